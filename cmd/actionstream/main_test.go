package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine the package starts must have ended once its tests are done.
func TestMain(m *testing.M) {
	// A test that needs its own process (ONNX Runtime is one library per process) re-runs
	// this binary as the CLI: see runOwnProcess.
	if os.Getenv(envRunCLI) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := runMain(ctx, os.Args[1:], os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	goleak.VerifyTestMain(m)
}
