// Command actionstream is the one binary: live X3D action recognition (serve, run), model
// inspection (model), training (train) and benchmarks (bench). Only CLI wiring lives here.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"serve", "run the streaming daemon from a config file", cmdServe},
		{"run", "one-shot: score one input with one model, print JSON lines", cmdRun},
		{"model", "inspect the X3D family and model files (model info ...)", cmdModel},
		{"train", "make models: synth, prepare, fit, eval, expand, import", cmdTrain},
		{"bench", "benchmarks: decode, infer", cmdBench},
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
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			err := c.run(ctx, args[1:], stdout, stderr)
			switch {
			case err == nil:
				return 0
			case errors.Is(err, flag.ErrHelp):
				return 0
			case errors.Is(err, errUsage):
				return 2
			default:
				fmt.Fprintf(stderr, "actionstream %s: %v\n", c.name, err)
				var coded interface{ ExitCode() int }
				if errors.As(err, &coded) {
					return coded.ExitCode()
				}
				return 1
			}
		}
	}
	fmt.Fprintf(stderr, "actionstream: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: actionstream <command> [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-7s %s\n", c.name, c.summary)
	}
}
