package versions

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Version
	}{
		{"1.36.3", Version{1, 36, 3}},
		{"v1.37.2", Version{1, 37, 2}},
		{"3.6.16", Version{3, 6, 16}},
		{"1.31.0", Version{1, 31, 0}},
	} {
		got, err := Parse(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("Parse(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if !strings.HasSuffix(tc.in, got.String()) {
			t.Errorf("Parse(%q).String() = %q", tc.in, got)
		}
	}
	for _, bad := range []string{"", "1.36", "1.36.3.1", "1.36.x", "1..3", "+1.36.3", "1.-36.3", " 1.36.3", "vv1.36.3", "1.36.3-rc.0", "1.36.12345678"} {
		if v, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) = %v, want an error", bad, v)
		} else if !strings.Contains(err.Error(), "1.36.3") {
			t.Errorf("Parse(%q) error %q does not show the expected form", bad, err)
		}
	}
}

func TestParseMinor(t *testing.T) {
	if m, err := ParseMinor("v1.36"); err != nil || m != (Minor{1, 36}) {
		t.Errorf("ParseMinor(v1.36) = %v, %v", m, err)
	}
	for _, bad := range []string{"", "1", "1.36.3", "1.x"} {
		if m, err := ParseMinor(bad); err == nil {
			t.Errorf("ParseMinor(%q) = %v, want an error", bad, m)
		}
	}
}

func TestCompare(t *testing.T) {
	ordered := []Version{{1, 9, 9}, {1, 31, 0}, {1, 31, 13}, {1, 32, 2}, {2, 0, 0}}
	for i, a := range ordered {
		for j, b := range ordered {
			want := compareInts(i, j)
			if got := a.Compare(b); got != want {
				t.Errorf("%v.Compare(%v) = %d, want %d", a, b, got, want)
			}
		}
	}
	if got := (Minor{1, 31}).Compare(Minor{1, 4}); got != 1 {
		t.Errorf("1.31 compared with 1.4 = %d, want 1 (numeric, not lexical)", got)
	}
}

func TestSpan(t *testing.T) {
	s := span{addedIn: Minor{1, 32}, removedIn: Minor{1, 35}}
	for m, want := range map[Minor]bool{{1, 31}: false, {1, 32}: true, {1, 34}: true, {1, 35}: false} {
		if got := s.contains(m); got != want {
			t.Errorf("[1.32, 1.35) contains %v = %t, want %t", m, got, want)
		}
	}
	if !(span{}).contains(Minor{1, 99}) {
		t.Error("an open span must contain every minor")
	}
	for _, tc := range []struct {
		a, b span
		want bool
	}{
		{span{removedIn: Minor{1, 32}}, span{addedIn: Minor{1, 32}}, false},
		{span{removedIn: Minor{1, 33}}, span{addedIn: Minor{1, 32}}, true},
		{span{}, span{addedIn: Minor{1, 40}}, true},
	} {
		if got := tc.a.overlaps(tc.b); got != tc.want || tc.b.overlaps(tc.a) != tc.want {
			t.Errorf("%v overlaps %v = %t, want %t both ways", tc.a, tc.b, got, tc.want)
		}
	}
}
