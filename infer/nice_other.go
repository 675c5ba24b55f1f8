//go:build !linux

package infer

import "errors"

func lowerThreadPriority(int) error { return errors.New("per-thread nice values are Linux-only") }
