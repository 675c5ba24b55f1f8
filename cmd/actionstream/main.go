// Command actionstream is the one binary: live X3D action recognition (serve, run), model
// inspection (model), training (train) and benchmarks (bench). Only flags and calls live here.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// command is a leaf (run) or a group of subcommands (subs).
type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdout, stderr io.Writer) error
	subs          []command
}

func commands() []command {
	return []command{
		{name: "serve", summary: "run the streaming daemon from a config file", run: cmdServe},
		{name: "run", summary: "one-shot: score one input with one model, print JSON lines", run: cmdRun},
		{name: "model", summary: "inspect X3D networks and model files", subs: []command{
			{name: "info", summary: "costs of the presets or one network (--arch), or a model file's metadata", run: cmdModelInfo},
		}},
		{name: "train", summary: "make models", subs: []command{
			{name: "synth", summary: "generate the synthetic motion dataset (videos + labels.csv + boxes.jsonl)", run: cmdTrainSynth},
			{name: "prepare", summary: "decode a labelled video folder into a dataset the trainer reads", run: cmdTrainPrepare},
			{name: "fit", summary: "train a preset, factor overrides or a spec file, export ONNX", run: cmdTrainFit},
			{name: "eval", summary: "top-1/top-5 through ONNX Runtime with the paper's test protocols", run: cmdTrainEval},
			{name: "expand", summary: "the paper's progressive expansion search from X2D to a GFLOPs target", run: cmdTrainExpand},
			{name: "import", summary: "convert public X3D checkpoints (PyTorchVideo, SlowFast) to our model contract", run: cmdTrainImport},
			{name: "export", summary: "export a network (untrained) or a checkpoint to an ONNX model of our contract", run: cmdTrainExport},
		}},
		{name: "bench", summary: "benchmarks", subs: []command{
			{name: "decode", summary: "our decode path against ffmpeg -threads 1", run: cmdBenchDecode},
			{name: "infer", summary: "raw ONNX Runtime against the batcher", run: cmdBenchInfer},
			{name: "memory", summary: "peak resident memory per served stream", run: cmdBenchMemory},
			{name: "whip", summary: "glass-to-event latency over WHIP on loopback", run: cmdBenchWHIP},
		}},
	}
}

// errUsage marks an error already explained by printed usage.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runMain(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func runMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	err := dispatch(ctx, "actionstream", commands(), args, stdout, stderr)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	fmt.Fprintf(stderr, "actionstream %s: %v\n", args[0], err)
	return 1
}

func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}

func dispatch(ctx context.Context, path string, cmds []command, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		usage(stderr, path, cmds)
		return errUsage
	}
	if isHelp(args[0]) {
		usage(stdout, path, cmds)
		return nil
	}
	for _, c := range cmds {
		if c.name != args[0] {
			continue
		}
		if c.subs != nil {
			return dispatch(ctx, path+" "+c.name, c.subs, args[1:], stdout, stderr)
		}
		return c.run(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "%s: unknown command %q\n\n", path, args[0])
	usage(stderr, path, cmds)
	return errUsage
}

// usage lists cmds with their subcommands, one runnable command a line.
func usage(w io.Writer, path string, cmds []command) {
	fmt.Fprintf(w, "usage: %s <command> [flags]   (each command takes -h)\n\ncommands:\n", path)
	for _, c := range cmds {
		if c.subs == nil {
			fmt.Fprintf(w, "  %-15s %s\n", c.name, c.summary)
		}
		for _, s := range c.subs {
			fmt.Fprintf(w, "  %-15s %s\n", c.name+" "+s.name, s.summary)
		}
	}
}

// hidden is the usage text of deprecated spellings, which the usage leaves out.
const hidden = "deprecated"

// newFlags is a subcommand's flag set; its usage prints synopsis, about and the flags
// without their deprecated spellings.
func newFlags(name, synopsis, about string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("actionstream "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: actionstream %s %s\n\n", name, synopsis)
		if about != "" {
			fmt.Fprintf(stderr, "%s\n\n", strings.TrimSpace(about))
		}
		fmt.Fprintln(stderr, "flags:")
		shown := flag.NewFlagSet("", flag.ContinueOnError)
		shown.SetOutput(stderr)
		fs.VisitAll(func(f *flag.Flag) {
			if f.Usage != hidden {
				shown.Var(f.Value, f.Name, f.Usage)
				shown.Lookup(f.Name).DefValue = f.DefValue
			}
		})
		shown.PrintDefaults()
	}
	return fs
}

// parse parses args; a flag error (already printed with the usage) becomes errUsage.
// Named flags are required: a missing one prints the usage.
func parse(fs *flag.FlagSet, args []string, required ...string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected argument %q (flags only)\n", fs.Arg(0))
		return errUsage
	}
	for _, n := range required {
		if f := fs.Lookup(n); f != nil && f.Value.String() == f.DefValue {
			fmt.Fprintf(fs.Output(), "--%s is required\n\n", n)
			fs.Usage()
			return errUsage
		}
	}
	return nil
}

// alias registers old as a hidden spelling of the flag current, with a deprecation line on use.
func alias(fs *flag.FlagSet, old, current string) {
	fs.Var(aliasValue{fs.Lookup(current).Value, func() {
		fmt.Fprintf(fs.Output(), "actionstream: --%s is deprecated; use --%s\n", old, current)
	}}, old, hidden)
}

type aliasValue struct {
	flag.Value
	warn func()
}

func (a aliasValue) Set(v string) error { a.warn(); return a.Value.Set(v) }

func (a aliasValue) IsBoolFlag() bool {
	b, ok := a.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// progress prints "what: done/total videos" on one line.
func progress(w io.Writer, what string) func(done, total int) {
	return func(done, total int) {
		fmt.Fprintf(w, "\r%s: %d/%d videos", what, done, total)
		if done == total {
			fmt.Fprintln(w)
		}
	}
}
