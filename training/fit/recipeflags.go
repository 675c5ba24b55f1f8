package fit

import (
	"fmt"
	"strings"
)

// RecipeFlags is a Recipe as the command line states it (`train fit`, `train expand`):
// Jitter as "MIN,MAX", SynthPairs filling empty pair lists with the synthetic classes'
// pairs, and WarmupEpochs 0 meaning none.
type RecipeFlags struct {
	Recipe
	Jitter     string
	SynthPairs bool
}

// Build is the Recipe for a dataset's labels (Epochs as set).
func (f RecipeFlags) Build(labels []string) (Recipe, error) {
	rec := f.Recipe
	if f.SynthPairs {
		sp := SynthPairs().For(labels)
		for _, p := range [][2]*string{{&rec.FlipPairs, &sp.Flip}, {&rec.VFlipPairs, &sp.VFlip}, {&rec.ReversePairs, &sp.Reverse}} {
			if *p[0] == "" {
				*p[0] = *p[1]
			}
		}
	}
	if rec.WarmupEpochs == 0 {
		rec.WarmupEpochs = -1
	}
	if f.Jitter != "" {
		lo, hi, ok := strings.Cut(f.Jitter, ",")
		if _, err := fmt.Sscanf(lo+" "+hi, "%g %g", &rec.JitterMin, &rec.JitterMax); !ok || err != nil {
			return Recipe{}, fmt.Errorf("%w: jitter %q: want MIN,MAX", ErrOptions, f.Jitter)
		}
	}
	return rec, nil
}
