package outbox_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/actionstream/actionstream/sink/outbox"
)

// The tests below run this test binary again as a helper process (helperEnv names the role)
// and kill it with SIGKILL mid-run, or limit its file size.
const (
	helperEnv    = "OUTBOX_TEST_HELPER"
	helperDirEnv = "OUTBOX_TEST_DIR"
	helperNEnv   = "OUTBOX_TEST_N"
)

// runHelper runs the helper role named in the environment and reports whether it did.
func runHelper() bool {
	role := os.Getenv(helperEnv)
	if role == "" {
		return false
	}
	dir := os.Getenv(helperDirEnv)
	n, _ := strconv.Atoi(os.Getenv(helperNEnv))
	var err error
	switch role {
	case "append":
		err = helperAppend(dir, n)
	case "deliver":
		err = helperDeliver(dir, n)
	case "diskfull":
		err = helperDiskFull(dir, n)
	default:
		err = fmt.Errorf("unknown helper role %q", role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(1)
	}
	os.Exit(0)
	return true
}

var killReaders = []string{"jsonl", "kafka"}

// helperAppend appends n events under fsync always, printing each one's index once Append
// has returned, i.e. once the outbox has promised it is durable.
func helperAppend(dir string, n int) error {
	o, err := outbox.Open(dir, outbox.Options{Sync: outbox.SyncPolicy{Mode: outbox.SyncAlways}, Readers: killReaders, Logger: quietLogger()})
	if err != nil {
		return err
	}
	for i := range n {
		if _, err := o.Append(context.Background(), event(i)); err != nil {
			return err
		}
		fmt.Printf("durable %d\n", i)
	}
	time.Sleep(time.Minute) // wait to be killed
	return nil
}

// helperDeliver appends n events under the default policy (always) in batches of 100, then
// delivers them to a JSON-lines file (fsync per batch, slowly) while the "kafka" sink is
// down, printing progress, until it is killed.
func helperDeliver(dir string, n int) error {
	o, err := outbox.Open(dir, outbox.Options{Readers: killReaders, Logger: quietLogger()})
	if err != nil {
		return err
	}
	var batch [][]byte
	for i := range n {
		if batch = append(batch, event(i)); len(batch) == 100 || i == n-1 {
			if _, err := o.AppendBatch(context.Background(), batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if st := o.Stats(); st.DurableSeq != uint64(n) {
		return fmt.Errorf("AppendBatch returned before the entries were durable: %+v", st)
	}
	fmt.Printf("appended %d\n", n)
	f, err := os.OpenFile(filepath.Join(dir, "events.jsonl"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	jsonl, _ := o.Reader("jsonl")
	kafka, _ := o.Reader("kafka")
	fileSink := &fileSink{f: f, delay: 5 * time.Millisecond, onBatch: func(last uint64) { fmt.Printf("delivered %d\n", last) }}
	ctx := context.Background()
	var wg sync.WaitGroup
	wg.Go(func() {
		_ = outbox.NewDelivery(jsonl, fileSink.write, outbox.DeliveryOptions{BatchSize: 20, Logger: quietLogger()}).Run(ctx)
	})
	wg.Go(func() {
		brokerPaused := func(context.Context, []outbox.Entry) error { return errors.New("kafka: broker paused") }
		_ = outbox.NewDelivery(kafka, brokerPaused, outbox.DeliveryOptions{MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, Logger: quietLogger()}).Run(ctx)
	})
	wg.Wait()
	return nil
}

// fileSink appends entries as lines and fsyncs before acknowledging, like the JSONL sink.
type fileSink struct {
	f       *os.File
	delay   time.Duration
	onBatch func(last uint64)
}

func (s *fileSink) write(_ context.Context, batch []outbox.Entry) error {
	var b bytes.Buffer
	for _, e := range batch {
		b.Write(e.Data)
		b.WriteByte('\n')
	}
	if _, err := s.f.Write(b.Bytes()); err != nil {
		return err
	}
	if err := s.f.Sync(); err != nil {
		return err
	}
	time.Sleep(s.delay)
	if s.onBatch != nil {
		s.onBatch(batch[len(batch)-1].Seq)
	}
	return nil
}

// startHelper starts the helper role and returns it with its stdout as lines.
func startHelper(t *testing.T, role, dir string, n int) (*exec.Cmd, <-chan string, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+role, helperDirEnv+"="+dir, helperNEnv+"="+strconv.Itoa(n))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1024)
	go func() { // ends at the helper's exit (EOF)
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return cmd, lines, &stderr
}

// killWhen SIGKILLs cmd once stop returns true for a line, and returns the lines seen.
func killWhen(t *testing.T, cmd *exec.Cmd, lines <-chan string, stderr *bytes.Buffer, stop func(string) bool) []string {
	t.Helper()
	var seen []string
	timeout := time.After(15 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("helper exited before the kill: %v; stderr: %s", cmd.Wait(), stderr)
			}
			seen = append(seen, line)
			if !stop(line) {
				continue
			}
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("helper did not die of SIGKILL: %v", err)
			}
			for line := range lines {
				seen = append(seen, line)
			}
			return seen
		case <-timeout:
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("helper too slow; stderr: %s", stderr)
		}
	}
}

func TestKillDuringAppendLosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("subprocess kill test")
	}
	dir := t.TempDir()
	const n = 100000 // more than it can append before the kill
	cmd, lines, stderr := startHelper(t, "append", dir, n)
	seen := killWhen(t, cmd, lines, stderr, func(line string) bool { return line == "durable 300" })
	last := -1
	for _, line := range seen {
		if i, err := strconv.Atoi(strings.TrimPrefix(line, "durable ")); err == nil {
			last = i
		}
	}

	o := open(t, dir, outbox.Options{Readers: killReaders})
	defer closeOutbox(t, o)
	st := o.Stats()
	if st.Entries < last+1 {
		t.Fatalf("after SIGKILL %d entries survive; the helper was told %d were durable", st.Entries, last+1)
	}
	for _, name := range killReaders {
		r := reader(t, o, name)
		batch := next(t, r, st.Entries)
		checkEntries(t, batch, 1, 0, st.Entries)
	}
	t.Logf("killed after %d acknowledged appends; %d entries on disk", last+1, st.Entries)
}

func TestKillDuringDeliveryThenRestartDeliversEverything(t *testing.T) {
	if testing.Short() {
		t.Skip("subprocess kill test")
	}
	dir := t.TempDir()
	const n = 2000
	cmd, lines, stderr := startHelper(t, "deliver", dir, n)
	deliveredBatches := 0
	killWhen(t, cmd, lines, stderr, func(line string) bool {
		if strings.HasPrefix(line, "delivered ") {
			deliveredBatches++
		}
		return deliveredBatches == 60 // mid-run: 1200 of 2000 in the file (over 300 ms), Kafka "paused"
	})
	beforeRestart := countLines(t, filepath.Join(dir, "events.jsonl"))
	if beforeRestart == 0 || beforeRestart >= n {
		t.Fatalf("%d lines in the file at the kill; the kill should come mid-delivery", beforeRestart)
	}

	// Restart: the file sink continues after its cursor, Kafka is back and gets everything.
	o := open(t, dir, outbox.Options{Readers: killReaders})
	f, err := os.OpenFile(filepath.Join(dir, "events.jsonl"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	kafka := &collector{}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	jd := outbox.NewDelivery(reader(t, o, "jsonl"), (&fileSink{f: f}).write, outbox.DeliveryOptions{Logger: quietLogger()})
	kd := outbox.NewDelivery(reader(t, o, "kafka"), kafka.write, outbox.DeliveryOptions{Logger: quietLogger()})
	wg.Go(func() { _ = jd.Run(ctx) })
	wg.Go(func() { _ = kd.Run(ctx) })
	waitFor(t, "both sinks caught up", func() bool {
		st := o.Stats()
		return st.Readers["jsonl"].Cursor == n && st.Readers["kafka"].Cursor == n
	})
	cancel()
	wg.Wait()
	closeOutbox(t, o)

	fileData, err := os.ReadFile(filepath.Join(dir, "events.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	fileLines := strings.Split(strings.TrimSuffix(string(fileData), "\n"), "\n")
	for name, got := range map[string][]string{"jsonl": fileLines, "kafka": kafka.lines()} {
		missing, dups := checkAllDelivered(t, got, n)
		if missing != 0 {
			t.Errorf("%s: %d of %d events lost across the SIGKILL", name, missing, n)
		}
		if name == "jsonl" && dups >= beforeRestart {
			t.Errorf("jsonl: %d repeats: its acknowledged cursor was not persisted before the kill", dups)
		}
		t.Logf("%s: all %d delivered, %d repeats", name, n, dups)
	}
	if st := kd.Stats(); st.Delivered != n || !st.Up {
		t.Errorf("kafka delivery stats %+v, want %d delivered and up", st, n)
	}
}

// checkAllDelivered returns how many of events 0..n-1 are missing from lines and how many lines
// repeat an earlier one; a line that is no event of 0..n-1 fails the test.
func checkAllDelivered(t *testing.T, lines []string, n int) (missing, dups int) {
	t.Helper()
	want := map[string]bool{}
	for i := range n {
		want[string(event(i))] = false
	}
	for _, l := range lines {
		seen, ok := want[l]
		if !ok {
			t.Fatalf("delivered line %q is no event that was appended (bytes changed?)", l)
		}
		if seen {
			dups++
		}
		want[l] = true
	}
	for _, seen := range want {
		if !seen {
			missing++
		}
	}
	return missing, dups
}

func countLines(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(data, []byte("\n"))
}

// collector is a fake sink that keeps what it is given.
type collector struct {
	mu  sync.Mutex
	got []string
}

func (c *collector) write(_ context.Context, batch []outbox.Entry) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range batch {
		c.got = append(c.got, string(e.Data))
	}
	return nil
}

func (c *collector) lines() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.got...)
}
