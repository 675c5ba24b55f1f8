package server

import "errors"

var (
	// ErrExposed: http.addr is not a loopback address and the dashboard and API would be
	// served without credentials (no web.token, no web.open).
	ErrExposed = errors.New("refusing to serve the dashboard and API without credentials")
	// ErrTLS: the certificate or key file cannot be loaded.
	ErrTLS = errors.New("http tls")
	// ErrUnsupportedMedia: a camera write whose body is not JSON (415).
	ErrUnsupportedMedia = errors.New("unsupported media type")
)
