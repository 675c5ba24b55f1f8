package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/actionstream/actionstream/sink/outbox"
)

// helperDiskFull makes writes fail the way a full disk does, for real: it lowers its own file
// size limit (RLIMIT_FSIZE, with SIGXFSZ ignored, so the kernel answers EFBIG) until Append
// cannot commit, reports what the outbox says, then lifts the limit and checks that the
// blocked entries are written and nothing was lost.
func helperDiskFull(dir string, n int) error {
	signal.Ignore(syscall.SIGXFSZ)
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		return err
	}
	o, err := outbox.Open(dir, outbox.Options{Sync: outbox.SyncPolicy{Mode: outbox.SyncAlways}, Readers: []string{"a"},
		RetryInterval: 20 * time.Millisecond, Logger: quietLogger()})
	if err != nil {
		return err
	}
	small := lim
	small.Cur = 256 << 10
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &small); err != nil {
		return err
	}
	entry := func(i int) []byte { return fmt.Appendf(nil, "%06d:%s", i, strings.Repeat("x", 2000)) }
	appended := 0
	for ; appended < n; appended++ {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		_, err := o.Append(ctx, entry(appended))
		cancel()
		if errors.Is(err, outbox.ErrNotDurable) {
			appended++ // appended, just not durable: it must still be written
			break
		}
		if err != nil {
			return err
		}
	}
	st := o.Stats()
	fmt.Printf("blocked after %d entries: Err()=%v; disk errors %d; pending %d\n", appended, o.Err(), st.DiskErrors, st.Pending)
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		return err
	}
	deadline := time.Now().Add(5 * time.Second)
	for o.Stats().DurableSeq < uint64(appended) || o.Err() != nil {
		if time.Now().After(deadline) {
			return fmt.Errorf("not recovered: %+v", o.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Printf("recovered: Err()=%v\n", o.Err())
	if err := o.Close(context.Background()); err != nil {
		return err
	}
	o, err = outbox.Open(dir, outbox.Options{Readers: []string{"a"}, Logger: quietLogger()})
	if err != nil {
		return err
	}
	defer o.Close(context.Background())
	r, _ := o.Reader("a")
	batch, err := r.Next(context.Background(), n)
	if err != nil {
		return err
	}
	for i, e := range batch {
		if string(e.Data) != string(entry(i)) {
			return fmt.Errorf("entry %d changed", i)
		}
	}
	fmt.Printf("reopened: %d of %d entries\n", len(batch), appended)
	return nil
}

func TestWriteErrorBlocksAppendAndIsReported(t *testing.T) {
	if testing.Short() {
		t.Skip("subprocess test")
	}
	cmd, lines, stderr := startHelper(t, "diskfull", t.TempDir(), 1000)
	var out []string
	for line := range lines {
		out = append(out, line)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v; stderr: %s; stdout: %q", err, stderr, out)
	}
	if len(out) != 3 {
		t.Fatalf("helper output %q", out)
	}
	var blockedAt, pending int
	var errText string
	if _, err := fmt.Sscanf(out[0], "blocked after %d entries: Err()=", &blockedAt); err != nil {
		t.Fatalf("line %q: %v", out[0], err)
	}
	errText = out[0]
	if blockedAt >= 1000 || !strings.Contains(errText, "file too large") {
		t.Fatalf("the file size limit should make Append block with EFBIG reported by Err(): %q", out[0])
	}
	if _, err := fmt.Sscanf(out[0][strings.Index(out[0], "pending"):], "pending %d", &pending); err != nil || pending != 1 {
		t.Fatalf("want exactly the blocked entry pending: %q", out[0])
	}
	if out[1] != "recovered: Err()=<nil>" {
		t.Fatalf("after the limit is lifted: %q", out[1])
	}
	if want := fmt.Sprintf("reopened: %d of %d entries", blockedAt, blockedAt); out[2] != want {
		t.Fatalf("%q, want %q", out[2], want)
	}
	t.Log(out[0])
}
