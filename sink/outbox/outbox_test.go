package outbox_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/actionstream/actionstream/sink/outbox"
)

func TestMain(m *testing.M) {
	if runHelper() { // a subprocess of kill_test.go or diskfull_test.go
		return
	}
	goleak.VerifyTestMain(m)
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func open(t *testing.T, dir string, opts outbox.Options) *outbox.Outbox {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	o, err := outbox.Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return o
}

func closeOutbox(t *testing.T, o *outbox.Outbox) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := o.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func reader(t *testing.T, o *outbox.Outbox, name string) *outbox.Reader {
	t.Helper()
	r, err := o.Reader(name)
	if err != nil {
		t.Fatalf("Reader(%q): %v", name, err)
	}
	return r
}

func event(i int) []byte { return fmt.Appendf(nil, `{"id":"event-%06d","data":{"n":%d}}`, i, i) }

func appendN(t *testing.T, o *outbox.Outbox, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if _, err := o.Append(context.Background(), event(i)); err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
	}
}

// next reads one batch with a deadline, failing the test when nothing comes.
func next(t *testing.T, r *outbox.Reader, max int) []outbox.Entry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	batch, err := r.Next(ctx, max)
	if err != nil {
		t.Fatalf("Next(%s): %v", r.Name(), err)
	}
	return batch
}

// checkEntries asserts that batch holds the events want..want+len-1 with their seqs.
func checkEntries(t *testing.T, batch []outbox.Entry, firstSeq uint64, firstEvent, n int) {
	t.Helper()
	if len(batch) != n {
		t.Fatalf("got %d entries, want %d", len(batch), n)
	}
	for i, e := range batch {
		if e.Seq != firstSeq+uint64(i) {
			t.Fatalf("entry %d has seq %d, want %d", i, e.Seq, firstSeq+uint64(i))
		}
		if want := event(firstEvent + i); !bytes.Equal(e.Data, want) {
			t.Fatalf("entry seq %d is %q, want %q", e.Seq, e.Data, want)
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestReadersHaveIndependentCursorsAndDeletionWaitsForAll(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, outbox.Options{Sync: outbox.SyncPolicy{Mode: outbox.SyncAlways}, Readers: []string{"kafka", "redis"}})
	defer closeOutbox(t, o)
	kafka, redis := reader(t, o, "kafka"), reader(t, o, "redis")
	appendN(t, o, 0, 10)

	checkEntries(t, next(t, kafka, 4), 1, 0, 4)
	// Without an Ack the same entries come again, plus newer ones up to max.
	checkEntries(t, next(t, kafka, 6), 1, 0, 6)
	if err := kafka.Ack(10); err != nil {
		t.Fatal(err)
	}
	checkEntries(t, next(t, redis, 100), 1, 0, 10)
	if err := redis.Ack(3); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "entries 1..3 deleted", func() bool { return o.Stats().Entries == 7 })
	st := o.Stats()
	if st.Readers["kafka"] != (outbox.ReaderStats{Cursor: 10, Lag: 0}) || st.Readers["redis"] != (outbox.ReaderStats{Cursor: 3, Lag: 7}) {
		t.Fatalf("reader stats %+v", st.Readers)
	}
	checkEntries(t, next(t, redis, 100), 4, 3, 7)

	if err := redis.Ack(11); !errors.Is(err, outbox.ErrAckBeyond) {
		t.Fatalf("Ack beyond the last entry: %v, want ErrAckBeyond", err)
	}
	if _, err := o.Reader("kafka"); !errors.Is(err, outbox.ErrReaderInUse) {
		t.Fatalf("second Reader(kafka): %v", err)
	}
	if _, err := o.Reader("jsonl"); !errors.Is(err, outbox.ErrUnknownReader) || !bytes.Contains([]byte(err.Error()), []byte(`"jsonl"`)) {
		t.Fatalf("Reader(jsonl) not configured: %v", err)
	}
}

func TestReopenDeliversEverythingAfterEachCursor(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, outbox.Options{Sync: outbox.SyncPolicy{Mode: outbox.SyncAlways}, Readers: []string{"a", "b"}})
	a, b := reader(t, o, "a"), reader(t, o, "b")
	appendN(t, o, 0, 20)
	next(t, a, 15)
	if err := a.Ack(15); err != nil {
		t.Fatal(err)
	}
	next(t, b, 5)
	if err := b.Ack(5); err != nil {
		t.Fatal(err)
	}
	closeOutbox(t, o)

	o = open(t, dir, outbox.Options{Sync: outbox.SyncPolicy{Mode: outbox.SyncAlways}, Readers: []string{"a", "b"}})
	defer closeOutbox(t, o)
	a, b = reader(t, o, "a"), reader(t, o, "b")
	checkEntries(t, next(t, a, 100), 16, 15, 5)
	checkEntries(t, next(t, b, 100), 6, 5, 15)
	if st := o.Stats(); st.Entries != 15 || st.LastSeq != 20 {
		t.Fatalf("after reopen: %d entries, last seq %d; want 15 and 20", st.Entries, st.LastSeq)
	}
	// Sequence numbers continue; they are never reused.
	seq, err := o.Append(context.Background(), event(20))
	if err != nil || seq != 21 {
		t.Fatalf("Append after reopen: seq %d, %v; want 21", seq, err)
	}
}

func TestSeqNeverReusedAfterEverythingIsDeleted(t *testing.T) {
	dir := t.TempDir()
	opts := outbox.Options{Sync: outbox.SyncPolicy{Mode: outbox.SyncAlways}, Readers: []string{"a"}}
	o := open(t, dir, opts)
	a := reader(t, o, "a")
	appendN(t, o, 0, 5)
	if err := a.Ack(5); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "all deleted", func() bool { return o.Stats().Entries == 0 })
	closeOutbox(t, o)

	o = open(t, dir, opts)
	defer closeOutbox(t, o)
	a = reader(t, o, "a")
	seq, err := o.Append(context.Background(), event(5))
	if err != nil || seq != 6 {
		t.Fatalf("first Append after reopen: seq %d, %v; want 6", seq, err)
	}
	checkEntries(t, next(t, a, 10), 6, 5, 1)
}

func TestReaderNoLongerConfiguredIsDropped(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, outbox.Options{Sync: outbox.SyncPolicy{Mode: outbox.SyncAlways}, Readers: []string{"jsonl", "kafka"}})
	jsonl := reader(t, o, "jsonl")
	appendN(t, o, 0, 10)
	if err := jsonl.Ack(10); err != nil {
		t.Fatal(err)
	}
	closeOutbox(t, o)
	// kafka never acknowledged anything, so all 10 are kept for it ...
	o = open(t, dir, outbox.Options{Readers: []string{"jsonl", "kafka"}})
	if n := o.Stats().Entries; n != 10 {
		t.Fatalf("%d entries kept for kafka, want 10", n)
	}
	closeOutbox(t, o)
	// ... until kafka is no longer configured: its cursor goes and nothing holds them.
	o = open(t, dir, outbox.Options{Readers: []string{"jsonl"}})
	waitFor(t, "entries acknowledged by every remaining reader deleted", func() bool { return o.Stats().Entries == 0 })
	if _, ok := o.Stats().Readers["kafka"]; ok {
		t.Fatal("dropped reader still listed")
	}
	closeOutbox(t, o)
	// A reader added later starts at the oldest stored entry.
	o = open(t, dir, outbox.Options{Sync: outbox.SyncPolicy{Mode: outbox.SyncAlways}, Readers: []string{"jsonl"}})
	appendN(t, o, 10, 13)
	closeOutbox(t, o)
	o = open(t, dir, outbox.Options{Readers: []string{"jsonl", "redis"}})
	defer closeOutbox(t, o)
	checkEntries(t, next(t, reader(t, o, "redis"), 100), 11, 10, 3)
}

func TestFullOutboxBlocksAppendUntilReadersFreeSpace(t *testing.T) {
	o := open(t, t.TempDir(), outbox.Options{Sync: outbox.SyncPolicy{Mode: outbox.SyncAlways}, MaxEntries: 3, Readers: []string{"a"}})
	defer closeOutbox(t, o)
	a := reader(t, o, "a")
	appendN(t, o, 0, 3)

	// With no space and a deadline, Append gives up and says why; nothing was appended.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	_, err := o.Append(ctx, event(99))
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || !bytes.Contains([]byte(err.Error()), []byte("waiting for space (3 entries")) {
		t.Fatalf("Append to a full outbox: %v", err)
	}

	done := make(chan error, 1)
	go func() {
		_, err := o.Append(context.Background(), event(3))
		done <- err
	}()
	waitFor(t, "Full", o.Full)
	select {
	case err := <-done:
		t.Fatalf("Append returned while full: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	if err := a.Ack(1); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Append still blocked after an entry was acknowledged")
	}
	st := o.Stats()
	if st.Full || st.BlockedAppends != 2 || st.BlockedTime < 50*time.Millisecond || st.Entries != 3 {
		t.Fatalf("stats after the wait: %+v", st)
	}
	checkEntries(t, next(t, a, 10), 2, 1, 3)
}

func TestByteCapAndTooLarge(t *testing.T) {
	o := open(t, t.TempDir(), outbox.Options{Sync: outbox.SyncPolicy{Mode: outbox.SyncAlways}, MaxBytes: int64(2 * len(event(0))), Readers: []string{"a"}})
	defer closeOutbox(t, o)
	if _, err := o.Append(context.Background(), make([]byte, 3*len(event(0)))); !errors.Is(err, outbox.ErrTooLarge) {
		t.Fatalf("Append larger than the cap: %v", err)
	}
	appendN(t, o, 0, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := o.Append(ctx, event(2)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Append past the byte cap: %v", err)
	}
}

func TestIntervalPolicyShowsEntriesOnlyOnceCommitted(t *testing.T) {
	o := open(t, t.TempDir(), outbox.Options{Sync: outbox.SyncPolicy{Mode: outbox.SyncInterval, Interval: 500 * time.Millisecond}, Readers: []string{"a"}})
	defer closeOutbox(t, o)
	a := reader(t, o, "a")
	start := time.Now()
	appendN(t, o, 0, 5)
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Fatalf("5 Appends under a 500ms interval took %s; they should not wait for the commit", d)
	}
	if st := o.Stats(); st.Pending == 0 || st.DurableSeq == 5 {
		t.Fatalf("entries committed at once under the interval policy: %+v", st)
	}
	checkEntries(t, next(t, a, 10), 1, 0, 5) // Next waits for the commit
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("commit took %s", d)
	}
}

func TestCountPolicyCommitsEveryCountEntries(t *testing.T) {
	o := open(t, t.TempDir(), outbox.Options{Sync: outbox.SyncPolicy{Mode: outbox.SyncCount, Count: 4}, Readers: []string{"a"}})
	defer closeOutbox(t, o)
	appendN(t, o, 0, 3)
	if st := o.Stats(); st.Pending != 3 || st.DurableSeq != 0 {
		t.Fatalf("after 3 of 4: %+v", st)
	}
	appendN(t, o, 3, 4)
	if st := o.Stats(); st.Pending != 0 || st.DurableSeq != 4 {
		t.Fatalf("the 4th Append must return committed: %+v", st)
	}
	// Fewer than Count entries are still committed within a second.
	appendN(t, o, 4, 5)
	waitFor(t, "the straggler committed", func() bool { return o.Stats().DurableSeq == 5 })
}

func TestCloseCommitsPendingEntries(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, outbox.Options{Sync: outbox.SyncPolicy{Mode: outbox.SyncInterval, Interval: time.Hour}, Readers: []string{"a"}})
	appendN(t, o, 0, 50)
	a := reader(t, o, "a")
	ctx, cancel := context.WithCancel(context.Background())
	blocked := make(chan error, 1)
	go func() {
		_, err := a.Next(ctx, 10) // nothing is committed yet: waits
		blocked <- err
	}()
	time.Sleep(20 * time.Millisecond)
	closeOutbox(t, o)
	cancel()
	if err := <-blocked; !errors.Is(err, outbox.ErrClosed) {
		t.Fatalf("Next blocked across Close: %v, want ErrClosed", err)
	}
	if _, err := o.Append(context.Background(), event(50)); !errors.Is(err, outbox.ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	if err := o.Close(context.Background()); !errors.Is(err, outbox.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}

	o = open(t, dir, outbox.Options{Readers: []string{"a"}})
	defer closeOutbox(t, o)
	checkEntries(t, next(t, reader(t, o, "a"), 100), 1, 0, 50)
}

func TestOpenRejectsBadOptionsAndASecondOpener(t *testing.T) {
	dir := t.TempDir()
	for _, opts := range []outbox.Options{
		{Readers: []string{"a", "a"}},
		{Readers: []string{""}},
		{Sync: outbox.SyncPolicy{Mode: outbox.SyncInterval}},
		{MaxEntries: -1},
	} {
		if _, err := outbox.Open(dir, opts); !errors.Is(err, outbox.ErrOptions) {
			t.Errorf("Open(%+v): %v, want ErrOptions", opts, err)
		}
	}
	o := open(t, dir, outbox.Options{Readers: []string{"a"}})
	defer closeOutbox(t, o)
	start := time.Now()
	_, err := outbox.Open(dir, outbox.Options{Readers: []string{"a"}})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte(filepath.Join(dir, "outbox.db"))) || time.Since(start) > 3*time.Second {
		t.Fatalf("second Open of a held outbox: %v after %s; want an error naming the file within seconds", err, time.Since(start))
	}
	if fi, err := os.Stat(filepath.Join(dir, "outbox.db")); err != nil || fi.Size() == 0 {
		t.Fatalf("outbox.db: %v", err)
	}
}

func TestParseSyncPolicy(t *testing.T) {
	for _, c := range []struct {
		in   string
		want outbox.SyncPolicy
	}{
		{"always", outbox.SyncPolicy{Mode: outbox.SyncAlways}},
		{"100ms", outbox.SyncPolicy{Mode: outbox.SyncInterval, Interval: 100 * time.Millisecond}},
		{"2s", outbox.SyncPolicy{Mode: outbox.SyncInterval, Interval: 2 * time.Second}},
		{"64", outbox.SyncPolicy{Mode: outbox.SyncCount, Count: 64}},
	} {
		got, err := outbox.ParseSyncPolicy(c.in)
		if err != nil || got != c.want || got.String() != c.in {
			t.Errorf("ParseSyncPolicy(%q) = %+v (%q), %v; want %+v", c.in, got, got.String(), err, c.want)
		}
	}
	for _, in := range []string{"", "sometimes", "0", "-3", "0s", "-1ms", "Always"} {
		if _, err := outbox.ParseSyncPolicy(in); !errors.Is(err, outbox.ErrOptions) {
			t.Errorf("ParseSyncPolicy(%q): %v, want ErrOptions", in, err)
		}
	}
	_, err := outbox.ParseSyncPolicy("sometimes")
	if want := `outbox: invalid options: fsync policy "sometimes": want "always", a duration like "100ms" or a count like "64"`; err.Error() != want {
		t.Errorf("error text %q, want %q", err, want)
	}
}

func TestAppendBatchSharesOneCommit(t *testing.T) {
	o := open(t, t.TempDir(), outbox.Options{MaxEntries: 8, Readers: []string{"a"}}) // default policy: always
	defer closeOutbox(t, o)
	if p := outbox.DefaultSyncPolicy(); p.Mode != outbox.SyncAlways {
		t.Fatalf("default policy %s, want always", p)
	}
	a := reader(t, o, "a")
	before := o.Stats().Commits
	first, err := o.AppendBatch(context.Background(), [][]byte{event(0), event(1), event(2), event(3), event(4)})
	if err != nil || first != 1 {
		t.Fatalf("AppendBatch: first seq %d, %v", first, err)
	}
	st := o.Stats()
	if st.DurableSeq != 5 || st.Commits != before+1 {
		t.Fatalf("after one AppendBatch of 5 under always: durable %d, %d commits; want 5 and one commit", st.DurableSeq, st.Commits-before)
	}
	checkEntries(t, next(t, a, 10), 1, 0, 5)

	if _, err := o.AppendBatch(context.Background(), nil); !errors.Is(err, outbox.ErrOptions) {
		t.Fatalf("empty batch: %v", err)
	}
	if _, err := o.AppendBatch(context.Background(), make([][]byte, 9)); !errors.Is(err, outbox.ErrTooLarge) {
		t.Fatalf("batch over the entry cap: %v", err)
	}
	// A batch waits until all of it fits: 5 stored + 4 > 8.
	done := make(chan error, 1)
	go func() {
		_, err := o.AppendBatch(context.Background(), [][]byte{event(5), event(6), event(7), event(8)})
		done <- err
	}()
	waitFor(t, "Full", o.Full)
	if err := a.Ack(1); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("AppendBatch still blocked with room for it")
	}
	checkEntries(t, next(t, a, 10), 2, 1, 8)
}

func TestOpenReportsAnUnusableDirectoryOrFile(t *testing.T) {
	base := t.TempDir()
	notDir := filepath.Join(base, "state")
	if err := os.WriteFile(notDir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := outbox.Open(notDir, outbox.Options{Logger: quietLogger()})
	if err == nil || !strings.HasPrefix(err.Error(), "outbox: create data directory: mkdir "+notDir+": not a directory") {
		t.Fatalf("Open on a regular file: %v", err)
	}

	corrupt := filepath.Join(base, "corrupt")
	if err := os.MkdirAll(corrupt, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(corrupt, "outbox.db"), bytes.Repeat([]byte("not a database "), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = outbox.Open(corrupt, outbox.Options{Logger: quietLogger()})
	if err == nil || err.Error() != "outbox: open "+filepath.Join(corrupt, "outbox.db")+": invalid database" {
		t.Fatalf("Open on a file that is no bbolt database: %v", err)
	}
	t.Log(err)
}
