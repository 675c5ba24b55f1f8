package main

import (
	"context"
	"errors"
	"io"
)

// cmdTrainFit is a placeholder until the training helper builds `train fit`.
func cmdTrainFit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("fit: not built yet (another helper is building it)")
}
