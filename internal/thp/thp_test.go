package thp

import "testing"

func TestWanted(t *testing.T) {
	for _, tc := range []struct {
		mode string
		env  []string
		want bool
	}{
		{"always [madvise] never\n", []string{"PATH=/bin"}, true},
		{"always [madvise] never\n", []string{"PATH=/bin", Env}, false},                        // after the restart
		{"always [madvise] never\n", []string{"GLIBC_TUNABLES=glibc.malloc.hugetlb=0"}, false}, // the user's own
		{"[always] madvise never\n", nil, false},                                               // every mapping already
		{"always madvise [never]\n", nil, false},                                               // none at all
		{"", nil, false},                                                                       // no such file
	} {
		if got := Wanted(tc.mode, tc.env); got != tc.want {
			t.Errorf("Wanted(%q, %q) = %v, want %v", tc.mode, tc.env, got, tc.want)
		}
	}
}
