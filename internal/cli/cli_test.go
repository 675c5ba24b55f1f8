package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestMainExitStatusAndMessages(t *testing.T) {
	var ran []string
	leaf := func(name string, err error) func(context.Context, []string, io.Writer, io.Writer) error {
		return func(_ context.Context, args []string, _, _ io.Writer) error {
			ran = append(ran, name+" "+strings.Join(args, " "))
			return err
		}
	}
	cmds := []Command{
		{Name: "ok", Summary: "succeeds", Run: leaf("ok", nil)},
		{Name: "grp", Summary: "a group", Subs: []Command{
			{Name: "fail", Summary: "fails", Run: leaf("fail", errors.New("boom"))},
			{Name: "bad", Summary: "usage", Run: leaf("bad", ErrUsage)},
		}},
	}
	for _, tc := range []struct {
		args         []string
		code         int
		stdout, errs string
	}{
		{[]string{"ok", "x"}, 0, "", ""},
		{[]string{"grp", "fail"}, 1, "", "prog grp: boom\n"},
		{[]string{"grp", "bad"}, 2, "", ""},
		{[]string{"help"}, 0, "  grp fail        fails", ""},
		{nil, 2, "", "  grp bad         usage"},
		{[]string{"grp"}, 2, "", "usage: prog grp <command>"},
		{[]string{"grp", "-h"}, 0, "  fail", ""},
		{[]string{"grp", "nope"}, 2, "", `prog grp: unknown command "nope"`},
	} {
		var out, errOut bytes.Buffer
		code := Main(context.Background(), "prog", cmds, tc.args, &out, &errOut)
		if code != tc.code || !strings.Contains(out.String(), tc.stdout) || !strings.Contains(errOut.String(), tc.errs) {
			t.Errorf("%q: exit %d\nstdout %q\nstderr %q", tc.args, code, out.String(), errOut.String())
		}
	}
	if len(ran) != 3 || ran[0] != "ok x" {
		t.Fatalf("ran %q", ran)
	}
}

func TestFlagsAliasRequired(t *testing.T) {
	var errOut bytes.Buffer
	fs := NewFlags("prog sub", "--in FILE", "About it.", &errOut)
	in := fs.String("in", "", "input (required)")
	rate := fs.Int("sampling-rate", 12, "τ")
	verbose := fs.Bool("verbose", false, "talk")
	Alias(fs, "tau", "sampling-rate")
	Alias(fs, "v", "verbose")
	if err := Parse(fs, []string{"--in", "a", "--tau", "6", "-v"}, "in"); err != nil || *in != "a" || *rate != 6 || !*verbose {
		t.Fatalf("parse: %v in=%q rate=%d verbose=%v", err, *in, *rate, *verbose)
	}
	if !strings.Contains(errOut.String(), "--tau is deprecated; use --sampling-rate") || !strings.Contains(errOut.String(), "--v is deprecated; use --verbose") {
		t.Fatalf("no deprecation lines: %q", errOut.String())
	}
	errOut.Reset()
	fs.Usage()
	u := errOut.String()
	if !strings.HasPrefix(u, "usage: prog sub --in FILE\n\nAbout it.\n\nflags:") || !strings.Contains(u, "-sampling-rate int") ||
		!strings.Contains(u, "(default 12)") || strings.Contains(u, "tau") || strings.Contains(u, Hidden) {
		t.Fatalf("usage:\n%s", u)
	}
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{}, "--in is required"},
		{[]string{"--in", "a", "stray"}, `unexpected argument "stray"`},
		{[]string{"--nope"}, "flag provided but not defined: -nope"},
	} {
		fs := NewFlags("prog sub", "", "", &errOut)
		fs.String("in", "", "")
		errOut.Reset()
		if err := Parse(fs, tc.args, "in"); !errors.Is(err, ErrUsage) || !strings.Contains(errOut.String(), tc.msg) {
			t.Errorf("%q: %v\n%s", tc.args, err, errOut.String())
		}
	}
}
