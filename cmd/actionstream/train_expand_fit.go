package main

import (
	"context"

	"github.com/actionstream/actionstream/training/expand"
)

// newFitTrainer gives `train expand` a Trainer that fits each candidate on cfg.Data with
// the candidate's Epochs and reports held-out accuracy (see expand.Trainer's contract).
//
// Placeholder until `train fit` exists: whoever builds fit deletes this file and defines
// newFitTrainer next to the fit code.
func newFitTrainer(ctx context.Context, cfg expandTrainerConfig) (expand.Trainer, error) {
	return nil, errFitUnavailable
}
