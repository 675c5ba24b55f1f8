package configs

import _ "embed"

// DemoYAML is configs/demo.yaml, embedded so `serve` runs with no file at all.
//
//go:embed demo.yaml
var DemoYAML []byte
