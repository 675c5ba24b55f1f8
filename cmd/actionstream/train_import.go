package main

import (
	"context"
	"errors"
	"io"
)

// cmdTrainImport is a placeholder until the training helper builds `train import`.
func cmdTrainImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("import: not built yet (another helper is building it)")
}
