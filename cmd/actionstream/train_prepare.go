package main

import (
	"context"
	"errors"
	"io"
)

// cmdTrainPrepare is a placeholder until the training helper builds `train prepare`.
func cmdTrainPrepare(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("prepare: not built yet (another helper is building it)")
}
