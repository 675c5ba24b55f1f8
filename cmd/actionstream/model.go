package main

import (
	"context"
	"errors"
	"io"
)

func cmdModel(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("model: not built yet")
}
