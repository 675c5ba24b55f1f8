package configs

import "fmt"

// FieldError is a validation error about one field, named by its YAML path.
type FieldError struct {
	Path string
	Msg  string
}

func (e *FieldError) Error() string { return fmt.Sprintf("config: %s %s", e.Path, e.Msg) }
