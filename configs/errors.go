package configs

import "github.com/actionstream/actionstream/confkit"

// FieldError is a validation error about one field, named by its YAML path.
type FieldError = confkit.FieldError
