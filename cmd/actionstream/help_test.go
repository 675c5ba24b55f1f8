package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/actionstream/actionstream/internal/cli"
)

// The top-level help lists every runnable command, each listed command exists and its -h
// prints its own usage, and the group and unknown-command paths say what the user typed.
func TestHelpListsEveryCommand(t *testing.T) {
	var want []string
	for _, c := range commands() {
		if c.Subs == nil {
			want = append(want, c.Name)
		}
		for _, s := range c.Subs {
			want = append(want, c.Name+" "+s.Name)
		}
	}
	var listed []string
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}, {}} {
		code, stdout, stderr := runCLI(t, args...)
		if (len(args) == 0) != (code == 2) || (len(args) > 0 && code != 0) {
			t.Fatalf("%q: exit %d", args, code)
		}
		text := stdout + stderr
		line := regexp.MustCompile(`(?m)^  ([a-z]+(?: [a-z]+)?)  +\S`)
		var got []string
		for _, m := range line.FindAllStringSubmatch(text, -1) {
			got = append(got, m[1])
		}
		if listed != nil && !slices.Equal(got, listed) {
			t.Fatalf("%q lists %q, help lists %q", args, got, listed)
		}
		listed = got
	}
	if !slices.Equal(listed, want) {
		t.Fatalf("help lists %q\nwant %q", listed, want)
	}
	for _, name := range []string{"serve", "run", "model info", "train synth", "train prepare", "train fit", "train eval",
		"train expand", "train import", "train export", "bench decode", "bench infer", "bench memory", "bench whip"} {
		if !slices.Contains(listed, name) {
			t.Errorf("help does not list %q", name)
		}
	}
	for _, name := range listed {
		code, stdout, stderr := runCLI(t, append(strings.Fields(name), "-h")...)
		if code != 0 || !strings.Contains(stderr, "usage: actionstream "+name+" ") || !strings.Contains(stderr, "flags:") {
			t.Errorf("%s -h: exit %d\n%s%s", name, code, stdout, stderr)
		}
		if strings.Contains(stderr, cli.Hidden) {
			t.Errorf("%s -h shows a deprecated spelling:\n%s", name, stderr)
		}
	}
	for _, group := range []string{"model", "train", "bench"} {
		code, stdout, _ := runCLI(t, group, "-h")
		if code != 0 || !strings.Contains(stdout, "usage: actionstream "+group+" <command>") {
			t.Errorf("%s -h: exit %d\n%s", group, code, stdout)
		}
		code, _, stderr := runCLI(t, group, "nosuch")
		if code != 2 || !strings.Contains(stderr, `actionstream `+group+`: unknown command "nosuch"`) {
			t.Errorf("%s nosuch: exit %d\n%s", group, code, stderr)
		}
	}
	if code, _, stderr := runCLI(t, "nosuch"); code != 2 || !strings.Contains(stderr, `actionstream: unknown command "nosuch"`) {
		t.Errorf("nosuch: exit %d\n%s", code, stderr)
	}
}

// Old spellings still work, say they are deprecated, and mean the new flag.
func TestDeprecatedSpellings(t *testing.T) {
	for _, tc := range []struct {
		args []string
		line string
	}{
		{[]string{"model", "info", "--arch", "x3d-xs", "--classes", "7", "--spec"}, "use --num-classes"},
		{[]string{"train", "expand", "--scorer", "synthetic", "--target-gflops", "0.05", "--out", t.TempDir(), "--base", "x2d", "--num-classes", "3", "--axes", "width"}, "--base is deprecated; use --arch"},
		{[]string{"bench", "decode", "--input", "missing.mp4", "--size", "64", "--runs", "1"}, "--size is deprecated; use --crop"},
	} {
		code, stdout, stderr := runCLI(t, tc.args...)
		if !strings.Contains(stderr, tc.line) {
			t.Errorf("%q: exit %d, stderr lacks %q:\n%s", tc.args, code, tc.line, stderr)
		}
		if tc.args[0] == "model" && (code != 0 || !strings.Contains(stdout, `"num_classes": 7`)) {
			t.Errorf("--classes 7 did not set 7 classes: exit %d\n%s", code, stdout)
		}
	}
	var out bytes.Buffer
	if code := runMain(context.Background(), []string{"train", "prepare", "--tau", "0", "--labels", "x.csv", "--out", t.TempDir()}, &out, &out); code != 1 ||
		!strings.Contains(out.String(), "--tau is deprecated; use --sampling-rate") || !strings.Contains(out.String(), "x.csv") {
		t.Errorf("prepare --tau: exit %d\n%s", code, out.String())
	}
}

// The README's flag vocabulary is what the commands take: every flag of a row is in the
// -h of every command the row names.
func TestReadmeFlagTable(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| (`--[a-z-]+`(?:, `--[a-z-]+`)*) \\| .* \\| ([a-z, ]+) \\|$")
	rows := row.FindAllStringSubmatch(string(b), -1)
	if len(rows) < 30 {
		t.Fatalf("README flag table: %d rows", len(rows))
	}
	help := map[string]string{}
	for _, r := range rows {
		for _, cmd := range strings.Split(r[2], ", ") {
			if _, ok := help[cmd]; !ok {
				_, _, stderr := runCLI(t, append(strings.Fields(cmd), "-h")...)
				help[cmd] = stderr
			}
			for _, f := range regexp.MustCompile("--[a-z-]+").FindAllString(r[1], -1) {
				if !regexp.MustCompile(`(?m)^  -` + f[2:] + `\b`).MatchString(help[cmd]) {
					t.Errorf("README says %s takes %s; its -h does not list it", cmd, f)
				}
			}
		}
	}
}

// --arch takes a preset name or a spec file: the spec `model info --spec` prints counts the same.
func TestArchTakesPresetOrSpec(t *testing.T) {
	code, spec, stderr := runCLI(t, "model", "info", "--arch", "x3d-s", "--spec")
	if code != 0 {
		t.Fatalf("--spec: exit %d: %s", code, stderr)
	}
	path := t.TempDir() + "/arch.json"
	if err := os.WriteFile(path, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	byName, byFile := infoJSON(t, "--arch", "x3d-s"), infoJSON(t, "--arch", path)
	if len(byFile) != 1 || byFile[0].MACs != byName[0].MACs || byFile[0].Params != byName[0].Params || byFile[0].Name != "x3d-s" {
		t.Fatalf("by name %+v\nby file %+v", byName, byFile)
	}
	if code, _, stderr := runCLI(t, "model", "info", "--arch", path, "--width", "2"); code != 1 || !strings.Contains(stderr, "preset base") {
		t.Fatalf("overrides on a spec file: exit %d: %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "model", "info", "--arch", "nosuch"); code != 1 || !strings.Contains(stderr, "neither a preset") {
		t.Fatalf("unknown --arch: exit %d: %s", code, stderr)
	}
}
