// Package layout holds no code: its tests check the architecture's rules on the real import graph
// (`go list`), so a change that breaks the stage order or spreads cgo fails CI.
package layout
