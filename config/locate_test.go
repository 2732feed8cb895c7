package config

import (
	"errors"
	"reflect"
	"slices"
	"testing"

	"go.yaml.in/yaml/v2"
)

// failing decodes any scalar but "bad", for which its UnmarshalYAML fails
// as a bad duration or regex does: with an error that is no *yaml.TypeError.
type failing struct{}

var errBad = errors.New("bad value")

func (*failing) UnmarshalYAML(unmarshal func(any) error) error {
	var s string
	if err := unmarshal(&s); err != nil {
		return err
	}
	if s == "bad" {
		return errBad
	}
	return nil
}

type locateInner struct {
	X failing `yaml:"x"`
}

// locateDoc has a field of each kind locate walks into.
type locateDoc struct {
	A      failing              `yaml:"a"`
	List   []failing            `yaml:"list"`
	M      map[string]failing   `yaml:"m"`
	P      *locateInner         `yaml:"p"`
	Nested map[string][]failing `yaml:"nested"`
	Inline locateInner          `yaml:",inline"`
	Plain  failing
}

func TestLocate(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		path      []string // nil: nothing located
	}{
		{"no error", "a: ok\nlist: [ok]\nplain: ok\n", nil},
		{"field", "a: bad\n", []string{"a"}},
		{"list item", "list: [ok, ok, bad]\n", []string{"list", "[2]"}},
		{"map value", "m: {k1: ok, k2: bad}\n", []string{"m", "k2"}},
		{"pointer to struct", "p: {x: bad}\n", []string{"p", "x"}},
		{"map of lists", "nested: {k: [ok, bad]}\n", []string{"nested", "k", "[1]"}},
		{"inline field", "x: bad\n", []string{"x"}},
		{"lowercased field name", "plain: bad\n", []string{"plain"}},
		// yaml stops at the first failing value in document order.
		{"first in document order", "plain: bad\nlist: [bad]\na: bad\n", []string{"plain"}},
		// A type error is yaml's own, with its line: nothing to locate.
		{"type error", "list: {k: v}\n", nil},
		{"unknown key", "bogus: bad\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			loc := &locator{t: reflect.TypeFor[locateDoc]()}
			if err := yaml.UnmarshalStrict([]byte(tc.doc), loc); err != nil {
				t.Fatalf("decode into locator: %v", err)
			}
			if !slices.Equal(loc.path, tc.path) {
				t.Errorf("path %q, want %q", loc.path, tc.path)
			}
			if wantErr := tc.path != nil; (loc.err != nil) != wantErr || (wantErr && !errors.Is(loc.err, errBad)) {
				t.Errorf("error %v, want one: %v", loc.err, wantErr)
			}
		})
	}
}

func TestDecodeError(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
	}{
		{
			"type error, value left out",
			"remote_write:\n- url: http://a/\n  basic_auth: hunter2\n",
			"line 3: cannot unmarshal !!str into config.plain",
		},
		{
			"type errors joined on one line",
			"remote_write:\n- url: http://a/\n  remote_timeout: [1]\n  name: [x]\n",
			"line 3: cannot unmarshal !!seq into string; line 4: cannot unmarshal !!seq into string",
		},
		{
			"value error located",
			"remote_write:\n- url: http://a/\n- url: http://b/\n  remote_timeout: 5 parsecs\n",
			`remote_write[1]: remote_timeout: unknown unit " parsecs" in duration "5 parsecs"`,
		},
		{
			"URL error without the URL",
			"remote_write:\n- url: \"http://user:hunter2@a/%zz\"\n",
			"remote_write[0]: url: invalid URL: bad %-escape",
		},
		{
			"syntax error keeps its line",
			"remote_write: [\n",
			"yaml: line 1: did not find expected node content",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			err := yaml.UnmarshalStrict([]byte(tc.doc), &c)
			if err == nil {
				t.Fatal("decoded without error")
			}
			if got := decodeError([]byte(tc.doc), err).Error(); got != tc.want {
				t.Errorf("error\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}
