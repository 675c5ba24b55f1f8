package main

import (
	"context"
	"errors"
	"io"
)

// cmdTrainExpand: the progressive expansion search (being built).
func cmdTrainExpand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("train expand: not built yet")
}
