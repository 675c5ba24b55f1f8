package x3d

import "errors"

var (
	// ErrUnknownPreset is returned by Preset for a name not in Presets().
	ErrUnknownPreset = errors.New("x3d: unknown preset")
	// ErrBadFactors is returned when expansion factors cannot make a network.
	ErrBadFactors = errors.New("x3d: invalid factors")
	// ErrBadArch is returned by Validate and ParseArch for an inconsistent spec.
	ErrBadArch = errors.New("x3d: invalid architecture")
	// ErrBadCrop is returned by CheckCrop for an evaluation crop the head cannot pool.
	ErrBadCrop = errors.New("x3d: invalid evaluation crop")
	// ErrUnknownAxis is returned by ParseAxis for a name that is not one of the six axes.
	ErrUnknownAxis = errors.New("x3d: unknown expansion axis")
)
