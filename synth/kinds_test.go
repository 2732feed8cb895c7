package synth

import (
	"testing"

	"github.com/prometheus/prometheus/model/labels"
)

func TestParseKind(t *testing.T) {
	for _, k := range []Kind{KindUp, KindAge, KindStatus, KindMaxAge, KindPushes} {
		got, err := ParseKind(k.String())
		if err != nil || got != k {
			t.Errorf("ParseKind(%q) = %v, %v; want %v", k.String(), got, err, k)
		}
	}
	_, err := ParseKind("stauts")
	if want := `unknown series kind "stauts" (one of up, age, status, max_age, pushes)`; err == nil || err.Error() != want {
		t.Errorf("ParseKind(stauts) error %v, want %s", err, want)
	}
}

func TestEnabled(t *testing.T) {
	pushes := Rule{Name: "pushes", Synthesize: KindsOf(KindPushes)}
	o := Options{Series: KindsOf(KindStatus), Rules: []Rule{pushes}}
	for _, tc := range []struct {
		name string
		rule *Rule
		want Kinds
	}{
		{"no rule: the default and the options'", nil, KindsOf(KindUp, KindAge, KindStatus)},
		{"a rule adds its own", &o.Rules[0], KindsOf(KindUp, KindAge, KindStatus, KindPushes)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := &Verdict{Labels: labels.FromStrings("job", "a"), Health: Health{Rule: tc.rule}}
			if got := o.KindsFor(v); got != tc.want {
				t.Errorf("KindsFor = %s, want %s", got, tc.want)
			}
			for k := range numKinds {
				if o.Enabled(v, k) != tc.want.Has(k) {
					t.Errorf("Enabled(%s) = %v, want %v", k, o.Enabled(v, k), tc.want.Has(k))
				}
			}
		})
	}
	if got := DefaultKinds.String(); got != "up,age" {
		t.Errorf("DefaultKinds = %s, want up,age", got)
	}
}
