package main

import (
	"context"
	"errors"
	"io"
)

// cmdTrainEval is a placeholder until the training helper builds `train eval`.
func cmdTrainEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("eval: not built yet (another helper is building it)")
}
