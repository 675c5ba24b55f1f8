// Package testutil holds the small helpers that tests across packages share. It imports only
// the standard library, so any package's internal tests can use it without an import cycle
// (the parent testkit imports training and infer).
package testutil

import (
	"bytes"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"
)

// pollEvery is short next to any deadline a test waits on, long enough not to spin a core.
const pollEvery = 10 * time.Millisecond

// WaitFor polls cond until it holds; after d it fails t with why(), which may describe the
// state at the time out.
func WaitFor(t testing.TB, d time.Duration, cond func() bool, why func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v: %s", d, why())
			return
		}
		time.Sleep(pollEvery)
	}
}

// Says is a why for WaitFor that is a fixed text.
func Says(what string) func() string { return func() string { return what } }

// SyncBuffer is a bytes.Buffer safe for concurrent writers and readers, e.g. a log sink read
// while the code under test still logs.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// AllocatedBytes is the heap allocated while f runs (fuzz targets bound it by the input's size).
func AllocatedBytes(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}
