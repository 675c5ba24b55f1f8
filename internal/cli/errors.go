package cli

import "errors"

// ErrUsage marks an error already explained by printed usage (exit status 2).
var ErrUsage = errors.New("usage")
