package jsonl_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/actionstream/actionstream/events"
	"github.com/actionstream/actionstream/internal/testkit/sinktest"
	"github.com/actionstream/actionstream/sink"
	"github.com/actionstream/actionstream/sink/jsonl"
)

// readLines decodes and validates every line of the file.
func readLines(t *testing.T, path string) []events.Event {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []events.Event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		ev, err := events.ParseJSON(sc.Bytes())
		if err != nil {
			t.Fatalf("line %d: %v", len(out)+1, err)
		}
		out = append(out, ev)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestFileConcurrentWritersAppendWholeLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	ctx := context.Background()

	// A first run leaves one line; the second run must append after it.
	first, err := jsonl.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	pre := sinktest.Stream("earlier", 1)
	if err := first.Write(ctx, pre); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(ctx); err != nil {
		t.Fatal(err)
	}

	s, err := jsonl.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	const writers, per = 8, 300
	seqs := make([][]events.Event, writers)
	var wg sync.WaitGroup
	for w := range writers {
		seqs[w] = sinktest.Stream(fmt.Sprintf("cam-%d", w), per)
		wg.Go(func() {
			for i := 0; i < per; i += 5 {
				if err := s.Write(ctx, seqs[w][i:i+5]); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, pre); !errors.Is(err, sink.ErrClosed) {
		t.Fatalf("Write after Close: %v, want ErrClosed", err)
	}

	got := readLines(t, path)
	if len(got) != 1+writers*per {
		t.Fatalf("%d lines, want %d", len(got), 1+writers*per)
	}
	if got[0].ID != pre[0].ID {
		t.Fatalf("first line %s: the file was truncated instead of appended", got[0].ID)
	}
	byStream := map[string][]events.Event{}
	for _, ev := range got[1:] {
		byStream[ev.Data.Stream] = append(byStream[ev.Data.Stream], ev)
	}
	for w := range writers {
		g := byStream[fmt.Sprintf("cam-%d", w)]
		if len(g) != per {
			t.Fatalf("stream %d: %d events", w, len(g))
		}
		for i := range g {
			want := seqs[w][i]
			if g[i].ID != want.ID || g[i].Type != want.Type || !g[i].Time.Equal(want.Time) || g[i].Data.Score != want.Data.Score {
				t.Fatalf("stream %d event %d: got %+v want %+v", w, i, g[i], want)
			}
		}
	}
}

func TestUnencodableEventIsRejectedOthersWritten(t *testing.T) {
	var buf bytes.Buffer
	s := jsonl.New(&buf)
	evs := sinktest.Stream("cam", 5)
	evs[2].Data.Score = float32(math.NaN())
	err := s.Write(context.Background(), evs)
	var be sink.BatchError
	if !errors.As(err, &be) || len(be) != 5 {
		t.Fatalf("Write: %v, want a BatchError of 5", err)
	}
	for i, e := range be {
		if (i == 2) != (e != nil) || (e != nil && !sink.IsPermanent(e)) {
			t.Fatalf("entry %d: %v", i, e)
		}
	}
	if n := bytes.Count(buf.Bytes(), []byte("\n")); n != 4 {
		t.Fatalf("%d lines written, want 4", n)
	}

	// Behind the buffered wrapper the bad event is counted as rejected and the rest delivered.
	buf.Reset()
	b := sink.NewBuffered(jsonl.New(&buf), sink.BufferConfig{Name: "jsonl"})
	if err := b.Write(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := b.Stats(); st.Rejected != 1 || st.Delivered != 4 || st.Errors != 0 {
		t.Fatalf("stats: %+v", st)
	}
	if n := bytes.Count(buf.Bytes(), []byte("\n")); n != 4 {
		t.Fatalf("%d lines written, want 4", n)
	}
}

func TestFailingWriterIsRetryable(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "x"))
	if err != nil {
		t.Fatal(err)
	}
	f.Close() // writes to a closed file fail
	s := jsonl.New(f)
	err = s.Write(context.Background(), sinktest.Stream("cam", 2))
	if err == nil || sink.IsPermanent(err) {
		t.Fatalf("Write to a closed file: %v, want a retryable error", err)
	}
}

func TestOpenFailsOnBadPath(t *testing.T) {
	if _, err := jsonl.Open(filepath.Join(t.TempDir(), "missing-dir", "e.jsonl")); err == nil {
		t.Fatal("Open in a missing directory succeeded")
	}
}
