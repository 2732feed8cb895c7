package synth

import (
	"fmt"
	"strings"
)

// Kind is a kind of per-group synthesized series. Every kind costs the
// receiver series per group: up and age are always synthesized (two per
// group, age once the group has pushed successfully); the others only where
// Options.Series or the group's Rule.Synthesize switches them on.
type Kind uint8

// The kinds of per-group synthesized series.
const (
	// KindUp is the pseudo-up (Options.UpMetric): one series. Always on.
	KindUp Kind = iota
	// KindAge is AgeMetric: one series once the group pushed successfully.
	// Always on.
	KindAge
	// KindStatus is StatusMetric: one series per Status.
	KindStatus
	// KindMaxAge is MaxAgeMetric: one series where the group's rule has a
	// MaxAge.
	KindMaxAge
	// KindPushes is the pushes counters of a group. synth does not make
	// them; their maker asks Options.Enabled whether a group has them.
	KindPushes
	numKinds
)

var kindNames = [numKinds]string{"up", "age", "status", "max_age", "pushes"}

// String returns the kind's name, as flags and configuration files spell it.
func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// ParseKind returns the kind of that name.
func ParseKind(name string) (Kind, error) {
	for k, n := range kindNames {
		if n == name {
			return Kind(k), nil
		}
	}
	return 0, fmt.Errorf("unknown series kind %q (one of %s)", name, strings.Join(kindNames[:], ", "))
}

// Kinds is a set of Kind; the zero value is empty.
type Kinds uint8

// DefaultKinds are the kinds synthesized for every group whatever the
// options say: at most two series per group.
const DefaultKinds = Kinds(1<<KindUp | 1<<KindAge)

// KindsOf returns the set of the kinds given.
func KindsOf(kinds ...Kind) Kinds {
	var s Kinds
	for _, k := range kinds {
		s |= 1 << k
	}
	return s
}

// Has tells whether k is in s.
func (s Kinds) Has(k Kind) bool { return s&(1<<k) != 0 }

// List returns the kinds of s in the order of their constants.
func (s Kinds) List() []Kind {
	var out []Kind
	for k := range numKinds {
		if s.Has(k) {
			out = append(out, k)
		}
	}
	return out
}

// String lists the kinds' names, comma separated.
func (s Kinds) String() string {
	names := make([]string, 0, numKinds)
	for _, k := range s.List() {
		names = append(names, k.String())
	}
	return strings.Join(names, ",")
}

// Enabled tells whether the group v judges gets the series of kind k: k is
// a default kind, in o.Series, or in the Synthesize of the group's rule.
// The pushes counters, made outside synth, ask it too.
func (o *Options) Enabled(v *Verdict, k Kind) bool {
	return o.KindsFor(v).Has(k)
}

// AnyEnabled tells whether some group may get the series of kind k: k is
// a default kind, in o.Series, or in the Synthesize of one of o.Rules.
func (o *Options) AnyEnabled(k Kind) bool {
	s := DefaultKinds | o.Series
	for i := range o.Rules {
		s |= o.Rules[i].Synthesize
	}
	return s.Has(k)
}

// KindsFor returns every kind the group v judges gets.
func (o *Options) KindsFor(v *Verdict) Kinds {
	s := DefaultKinds | o.Series
	if v.Rule != nil {
		s |= v.Rule.Synthesize
	}
	return s
}
