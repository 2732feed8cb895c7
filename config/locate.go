package config

import (
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v2"
)

// quotedValue is the value yaml quotes in "line 3: cannot unmarshal !!str
// `hunter2` into config.BasicAuth"; it may be a secret written in the wrong
// place.
var quotedValue = regexp.MustCompile("^(line [0-9]+: cannot unmarshal [^ ]+) `.*`( into [^`]*)$")

// decodeError turns an error of yaml.UnmarshalStrict(b, ...) into one line
// that names where it is and holds no secret.
func decodeError(b []byte, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs := make([]string, len(te.Errors))
		for i, m := range te.Errors {
			msgs[i] = quotedValue.ReplaceAllString(m, "$1$2")
		}
		// One line per problem is yaml's way; one line in all is ours.
		return errors.New(strings.Join(msgs, "; "))
	}
	// Any other error is one some UnmarshalYAML returned (a bad duration,
	// regex, URL...). yaml stops there and tells neither line nor key:
	// decode again to find the key.
	loc := &locator{t: reflect.TypeFor[Config]()}
	_ = yaml.UnmarshalStrict(b, loc)
	if loc.err == nil {
		return err // not from a value: a syntax error, which has its line
	}
	err = loc.err
	var ue *url.Error
	if errors.As(err, &ue) {
		// url.Error quotes the whole URL, userinfo and all.
		var ee url.EscapeError
		if errors.As(ue.Err, &ee) {
			err = errors.New("invalid URL: bad %-escape")
		} else {
			err = fmt.Errorf("invalid URL: %w", ue.Err)
		}
	}
	if len(loc.path) == 0 {
		return err
	}
	// "remote_write", "[1]", "url" reads "remote_write[1]: url".
	path := strings.ReplaceAll(strings.Join(loc.path, ": "), ": [", "[")
	return fmt.Errorf("%s: %w", path, err)
}

// node keeps the function yaml.v2 hands to UnmarshalYAML, to decode the
// same YAML node again, into other types, later in the same Unmarshal call.
// yaml.v2 allows that: the function holds the parsed node and the decoder,
// and a failure comes back as its error, not as a panic.
type node struct {
	decode func(any) error
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (n *node) UnmarshalYAML(unmarshal func(any) error) error {
	n.decode = unmarshal
	return nil
}

// locator finds the key path at which decoding a document into t fails with
// an error of some UnmarshalYAML.
type locator struct {
	t    reflect.Type
	path []string
	err  error
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (l *locator) UnmarshalYAML(unmarshal func(any) error) error {
	l.path, l.err = locate(unmarshal, l.t)
	return nil
}

// locate decodes a node into a new t. If that fails with an error that is
// not a *yaml.TypeError, it returns the error and the path of keys, under
// the node, of the innermost value that fails on its own; yaml decodes in
// document order, so that is the value whose error stopped the decoding.
func locate(decode func(any) error, t reflect.Type) ([]string, error) {
	err := decode(reflect.New(t).Interface())
	var te *yaml.TypeError
	if err == nil || errors.As(err, &te) {
		return nil, nil
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		fields := map[string]reflect.Type{}
		yamlFields(t, fields)
		// A mapping's keys in document order, and its values as nodes;
		// type errors (a node that is no mapping) leave them empty.
		var keys yaml.MapSlice
		_ = decode(&keys)
		var values map[string]node
		_ = decode(&values)
		for _, kv := range keys {
			k, ok := kv.Key.(string)
			ft, known := fields[k]
			if !ok || !known || values[k].decode == nil {
				continue
			}
			if path, err := locate(values[k].decode, ft); err != nil {
				return append([]string{k}, path...), err
			}
		}
	case reflect.Map:
		// A mapping's values by key, in document order, as for a struct.
		var keys yaml.MapSlice
		_ = decode(&keys)
		var values map[string]node
		_ = decode(&values)
		for _, kv := range keys {
			k, ok := kv.Key.(string)
			if !ok || values[k].decode == nil {
				continue
			}
			if path, err := locate(values[k].decode, t.Elem()); err != nil {
				return append([]string{k}, path...), err
			}
		}
	case reflect.Slice:
		var items []node
		_ = decode(&items)
		for i, it := range items {
			if it.decode == nil {
				continue
			}
			if path, err := locate(it.decode, t.Elem()); err != nil {
				return append([]string{fmt.Sprintf("[%d]", i)}, path...), err
			}
		}
	}
	return nil, err
}

// yamlFields adds t's keys and their types to fields, as yaml.v2 maps them:
// the tag's name or the lowercased field name, inline structs flattened.
func yamlFields(t reflect.Type, fields map[string]reflect.Type) {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, flags, _ := strings.Cut(tag, ",")
		if slices.Contains(strings.Split(flags, ","), "inline") && f.Type.Kind() == reflect.Struct {
			yamlFields(f.Type, fields)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = f.Type
	}
}
