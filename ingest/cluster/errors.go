package cluster

import "errors"

var (
	// ErrConfig: the cluster section is invalid.
	ErrConfig = errors.New("cluster config")
	// ErrBadCamera: a camera record that does not parse or fails the stream config's checks.
	ErrBadCamera = errors.New("invalid camera record")
	// ErrPlainSecret: a camera URL carries a password; the record must name a secret instead.
	ErrPlainSecret = errors.New("password in plain text")
	// ErrSecret: a record's secret (password_from) cannot be resolved on this node.
	ErrSecret = errors.New("camera secret")
	// ErrNoCamera: no camera with that id in the topic.
	ErrNoCamera = errors.New("no such camera")
	// ErrCameraExists: add of an id that is already in the topic (use update).
	ErrCameraExists = errors.New("camera already exists")
)
