package confkit

import (
	"errors"
	"fmt"
)

// FieldError is a validation error about one field, named by its YAML path.
type FieldError struct {
	Path string
	Msg  string
	// Err is the stage's sentinel (e.g. events.ErrInvalidConfig), so errors.Is still works
	// after configs has moved the error under its section.
	Err error
}

func (e *FieldError) Error() string { return fmt.Sprintf("config: %s %s", e.Path, e.Msg) }

func (e *FieldError) Unwrap() error { return e.Err }

// Problems collects field errors during validation.
type Problems struct {
	Sentinel error // wrapped by every error Add records
	errs     []error
}

// Add records that the field at path is wrong.
func (p *Problems) Add(path, format string, args ...any) {
	p.errs = append(p.errs, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...), Err: p.Sentinel})
}

// Nest records the problems of a sub-section's Validate, each path under prefix
// ("batcher" + "max_wait" = "batcher.max_wait"; "streams[0]" + "url" = "streams[0].url").
func (p *Problems) Nest(prefix string, err error) {
	if err == nil {
		return
	}
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		for _, e := range joined.Unwrap() {
			p.Nest(prefix, e)
		}
		return
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		p.errs = append(p.errs, &FieldError{Path: join(prefix, fe.Path), Msg: fe.Msg, Err: fe.Err})
		return
	}
	p.errs = append(p.errs, &FieldError{Path: prefix, Msg: err.Error(), Err: err})
}

// Err is every problem joined, or nil.
func (p *Problems) Err() error { return errors.Join(p.errs...) }

func join(prefix, path string) string {
	switch {
	case prefix == "":
		return path
	case path == "":
		return prefix
	case path[0] == '[':
		return prefix + path
	}
	return prefix + "." + path
}
