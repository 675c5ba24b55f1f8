// Package jsonl writes events as JSON lines: one CloudEvents JSON object per line, to stdout or
// to a file opened for appending. It is the default sink and needs nothing running.
package jsonl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/actionstream/actionstream/events"
	"github.com/actionstream/actionstream/sink"
)

// Sink is a sink.Sink writing JSON lines. Each Write is one write call under a lock, so lines of
// concurrent Writes never interleave.
type Sink struct {
	mu     sync.Mutex
	w      io.Writer
	file   *os.File // non-nil when the sink opened the file and closes it
	name   string
	buf    bytes.Buffer
	closed bool
}

// Open returns a sink appending to the file at path, created with mode 0644 if missing. The path
// "" or "-" means standard output (which Close leaves open).
func Open(path string) (*Sink, error) {
	if path == "" || path == "-" {
		return New(os.Stdout), nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("jsonl: open %s: %w", path, err)
	}
	return &Sink{w: f, file: f, name: path}, nil
}

// New returns a sink writing to w; Close does not close w.
func New(w io.Writer) *Sink {
	return &Sink{w: w, name: "writer"}
}

// Write appends one line per event. An event that cannot be encoded (a NaN score, say) fails
// permanently in a sink.BatchError while the others are written; a failed write to the file is
// retryable (the batch may then have been written in part). A file is fsynced before Write
// returns nil.
func (s *Sink) Write(_ context.Context, batch []events.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("jsonl %s: %w", s.name, sink.ErrClosed)
	}
	s.buf.Reset()
	enc := json.NewEncoder(&s.buf)
	enc.SetEscapeHTML(false)
	var batchErr sink.BatchError
	for i := range batch {
		if err := enc.Encode(&batch[i]); err != nil {
			if batchErr == nil {
				batchErr = make(sink.BatchError, len(batch))
			}
			batchErr[i] = sink.Permanent(fmt.Errorf("jsonl: encode event %s: %w", batch[i].ID, err))
		}
	}
	if s.buf.Len() > 0 {
		_, err := s.w.Write(s.buf.Bytes())
		if err != nil {
			err = fmt.Errorf("jsonl %s: write: %w", s.name, err)
		} else if s.file != nil {
			// A file write counts as delivered only once it is on disk: the outbox drops
			// what every sink acknowledged.
			if err = s.file.Sync(); err != nil {
				err = fmt.Errorf("jsonl %s: sync: %w", s.name, err)
			}
		}
		if err != nil {
			if batchErr == nil {
				return err
			}
			for i := range batchErr {
				if batchErr[i] == nil {
					batchErr[i] = err
				}
			}
		}
	}
	if s.buf.Cap() > 1<<20 {
		s.buf = bytes.Buffer{} // don't keep one huge batch's buffer forever
	}
	if batchErr != nil {
		return batchErr
	}
	return nil
}

// Close syncs and closes the file the sink opened (standard output or a caller's writer is left
// open). Every successful Write is on disk when Close returns nil. ctx is unused: this is quick.
func (s *Sink) Close(_ context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.file == nil {
		return nil
	}
	if err := s.file.Sync(); err != nil {
		s.file.Close()
		return fmt.Errorf("jsonl %s: sync: %w", s.name, err)
	}
	if err := s.file.Close(); err != nil {
		return fmt.Errorf("jsonl %s: close: %w", s.name, err)
	}
	return nil
}
