// Package cli is the command-line plumbing of cmd/actionstream: a command tree whose
// help lists every runnable command, flag sets whose usage hides deprecated spellings,
// and the exit-status rules (0 ok or help, 2 usage, 1 error). It knows no stage.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Command is a leaf (Run) or a group of subcommands (Subs).
type Command struct {
	Name, Summary string
	Run           func(ctx context.Context, args []string, stdout, stderr io.Writer) error
	Subs          []Command
}

// Main runs the command args name and returns the exit status: 0 on success or help,
// 2 on a usage error (usage already printed), 1 on any other error (printed as
// "prog command: error").
func Main(ctx context.Context, prog string, cmds []Command, args []string, stdout, stderr io.Writer) int {
	err := dispatch(ctx, prog, cmds, args, stdout, stderr)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, ErrUsage):
		return 2
	}
	fmt.Fprintf(stderr, "%s %s: %v\n", prog, args[0], err)
	// An error may choose its exit status (run: 3 bad input, 4 no clip).
	var coded interface{ ExitCode() int }
	if errors.As(err, &coded) {
		return coded.ExitCode()
	}
	return 1
}

func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}

func dispatch(ctx context.Context, path string, cmds []Command, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		Usage(stderr, path, cmds)
		return ErrUsage
	}
	if isHelp(args[0]) {
		Usage(stdout, path, cmds) // asked for: stdout
		return nil
	}
	for _, c := range cmds {
		if c.Name != args[0] {
			continue
		}
		if c.Subs != nil {
			return dispatch(ctx, path+" "+c.Name, c.Subs, args[1:], stdout, stderr)
		}
		return c.Run(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "%s: unknown command %q\n\n", path, args[0])
	Usage(stderr, path, cmds)
	return ErrUsage
}

// Usage lists cmds, one runnable command (with its group's name) a line.
func Usage(w io.Writer, path string, cmds []Command) {
	fmt.Fprintf(w, "usage: %s <command> [flags]   (each command takes -h)\n\ncommands:\n", path)
	for _, c := range cmds {
		if c.Subs == nil {
			fmt.Fprintf(w, "  %-15s %s\n", c.Name, c.Summary)
		}
		for _, s := range c.Subs {
			fmt.Fprintf(w, "  %-15s %s\n", c.Name+" "+s.Name, s.Summary)
		}
	}
}

// Hidden is the usage text of a deprecated spelling; usage output leaves such flags out.
const Hidden = "deprecated"

// NewFlags is a command's flag set: errors and usage go to stderr; the usage prints
// "usage: prog name synopsis", about, and the flags without their deprecated spellings.
func NewFlags(name, synopsis, about string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s %s\n\n", name, synopsis)
		if about = strings.TrimSpace(about); about != "" {
			fmt.Fprintf(stderr, "%s\n\n", about)
		}
		fmt.Fprintln(stderr, "flags:")
		shown := flag.NewFlagSet(name, flag.ContinueOnError)
		shown.SetOutput(stderr)
		fs.VisitAll(func(f *flag.Flag) {
			if f.Usage != Hidden {
				shown.Var(f.Value, f.Name, f.Usage)
				shown.Lookup(f.Name).DefValue = f.DefValue
			}
		})
		shown.PrintDefaults()
	}
	return fs
}

// Parse parses args: a flag error (printed with the usage) or a stray argument becomes
// ErrUsage, as does a required flag left at its default.
func Parse(fs *flag.FlagSet, args []string, required ...string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return ErrUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected argument %q (flags only; see -h)\n", fs.Arg(0))
		return ErrUsage
	}
	for _, n := range required {
		if f := fs.Lookup(n); f != nil && f.Value.String() == f.DefValue {
			fmt.Fprintf(fs.Output(), "--%s is required\n\n", n)
			fs.Usage()
			return ErrUsage
		}
	}
	return nil
}

// Alias registers old as a hidden spelling of the flag current; using it prints a
// deprecation line.
func Alias(fs *flag.FlagSet, old, current string) {
	fs.Var(aliasValue{fs.Lookup(current).Value, func() {
		fmt.Fprintf(fs.Output(), "actionstream: --%s is deprecated; use --%s\n", old, current)
	}}, old, Hidden)
}

type aliasValue struct {
	flag.Value
	warn func()
}

func (a aliasValue) Set(v string) error { a.warn(); return a.Value.Set(v) }

// IsBoolFlag lets a bool flag's alias stand without a value.
func (a aliasValue) IsBoolFlag() bool {
	b, ok := a.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// List collects a repeatable flag.
type List []string

func (l *List) String() string     { return strings.Join(*l, ",") }
func (l *List) Set(v string) error { *l = append(*l, v); return nil }

// Progress prints "what: done/total videos" on one line, ending it at the last.
func Progress(w io.Writer, what string) func(done, total int) {
	return func(done, total int) {
		fmt.Fprintf(w, "\r%s: %d/%d videos", what, done, total)
		if done == total {
			fmt.Fprintln(w)
		}
	}
}
