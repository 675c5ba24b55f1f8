package main

import (
	"context"
	"errors"
	"io"
)

func cmdTrain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("train: not built yet")
}
