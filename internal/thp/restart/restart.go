// Package restart calls thp.Reexec from its init, for main to import blank: Go initialises
// packages in import-path order once their dependencies are, so this runs before the
// third-party packages' inits (about 10 ms), which the first process would only throw away.
package restart

import "github.com/actionstream/actionstream/internal/thp"

func init() { thp.Reexec() }
