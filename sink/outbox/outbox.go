// Package outbox is the durable queue between the event lifecycle and the sinks.
//
// Every event is appended, as the bytes the sinks will send, to an on-disk queue (a bbolt
// database, outbox.db in the data directory). Each sink reads the queue through its own
// [Reader], at its own cursor, and advances the cursor ([Reader.Ack]) only once the sink has
// acknowledged the entries; an entry acknowledged by every configured reader is deleted. After
// a crash or a restart each reader starts again after its last persisted cursor, so delivery is
// at least once and a repeat carries the same bytes (the same event id).
//
// A [Delivery] is the loop that moves one reader's entries into one sink, retrying with backoff.
//
// Durability of Append follows the [SyncPolicy]; see docs/EVENTS.md for each policy's loss
// window. Readers only ever see committed (fsynced) entries, so a sink never holds an event the
// outbox could lose. The queue is capped (Options.MaxEntries, Options.MaxBytes): when full,
// Append blocks until readers free space or its ctx ends; nothing is dropped. A failing disk
// (a write error such as ENOSPC) also makes Append block and retry; [Outbox.Err] and
// [Outbox.Stats] report it for readiness and metrics.
package outbox

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

const (
	dbFileName = "outbox.db"
	// maxDeletesPerCommit bounds one commit's deletions so that a reader catching up on a
	// large backlog does not turn into one huge write transaction.
	maxDeletesPerCommit = 10000
	// cursorPeriod is how soon an acknowledgement is persisted (when no Append commits it
	// first): the bound on what a crash makes a reader receive again.
	cursorPeriod = 100 * time.Millisecond
	// errLogInterval bounds repeated logging of a persisting disk error.
	errLogInterval = 30 * time.Second
)

var (
	bucketEntries = []byte("entries") // seq (8 bytes, big endian) -> entry bytes
	bucketCursors = []byte("cursors") // reader name -> seq acknowledged through
	bucketMeta    = []byte("meta")    // keyLastSeq -> highest seq ever assigned
	keyLastSeq    = []byte("last_seq")
)

// Options configures an Outbox. Zero fields take the defaults shown.
type Options struct {
	Sync       SyncPolicy // default DefaultSyncPolicy(): always
	MaxEntries int        // cap on stored entries; default 1,000,000
	MaxBytes   int64      // cap on stored entry bytes (not the file size); default 1 GiB
	// Readers names every reader (one per enabled sink). A stored cursor of a name not listed
	// is dropped at Open: that sink no longer holds entries back. A listed name without a
	// stored cursor starts at the oldest stored entry. With no readers at all, entries are
	// deleted as soon as they are committed.
	Readers []string
	// RetryInterval is how often a failed disk write is retried; default 1 s.
	RetryInterval time.Duration
	Logger        *slog.Logger
}

func (o Options) withDefaults() (Options, error) {
	if o.Sync == (SyncPolicy{}) {
		o.Sync = DefaultSyncPolicy()
	}
	if err := o.Sync.validate(); err != nil {
		return o, err
	}
	if o.MaxEntries < 0 || o.MaxBytes < 0 {
		return o, fmt.Errorf("%w: negative size cap", ErrOptions)
	}
	if o.MaxEntries == 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.RetryInterval <= 0 {
		o.RetryInterval = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	seen := map[string]bool{}
	for _, name := range o.Readers {
		if name == "" {
			return o, fmt.Errorf("%w: empty reader name", ErrOptions)
		}
		if seen[name] {
			return o, fmt.Errorf("%w: reader %q listed twice", ErrOptions, name)
		}
		seen[name] = true
	}
	return o, nil
}

type pendingEntry struct {
	seq  uint64
	data []byte
}

// Outbox is the durable queue. All methods are safe for concurrent use.
type Outbox struct {
	db   *bolt.DB
	opts Options
	log  *slog.Logger

	flushMu sync.Mutex // one write transaction at a time, held across its fsync

	mu          sync.Mutex
	nextSeq     uint64 // seq of the next Append
	durable     uint64 // highest committed seq
	first       uint64 // lowest stored seq (== nextSeq when empty)
	pending     []pendingEntry
	stored      int   // entries stored or pending
	storedBytes int64 // their bytes
	cursors     map[string]uint64
	dirty       bool // cursors changed since the last commit
	readers     map[string]*Reader
	changed     chan struct{} // closed and replaced whenever durable, first or closed change
	closed      bool
	ops         sync.WaitGroup // calls that may touch db; Close waits for them
	waiting     int            // Appends waiting for space
	diskErr     error
	lastErrLog  time.Time
	stats       counters

	kick chan struct{} // asks the background loop to commit now
	stop chan struct{}
	done chan struct{}
}

type counters struct {
	appended, commits, blockedAppends, diskErrors uint64
	blockedTime                                   time.Duration
}

// Open opens (creating if needed) the outbox in dir. Another process holding the same outbox
// makes Open fail after a second rather than wait.
func Open(dir string, opts Options) (*Outbox, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("outbox: create data directory: %w", err)
	}
	path := filepath.Join(dir, dbFileName)
	db, err := bolt.Open(path, 0o640, &bolt.Options{Timeout: time.Second, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, fmt.Errorf("outbox: open %s: %w", path, err)
	}
	o := &Outbox{
		db:      db,
		opts:    opts,
		log:     opts.Logger.With("component", "outbox"),
		cursors: map[string]uint64{},
		readers: map[string]*Reader{},
		changed: make(chan struct{}),
		kick:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	if err := o.load(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("outbox: open %s: %w", path, err)
	}
	go o.run()
	return o, nil
}

// load creates the buckets, scans the stored entries and settles the cursors.
func (o *Outbox) load() error {
	return o.db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketEntries, bucketCursors, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		entries, cursors, meta := tx.Bucket(bucketEntries), tx.Bucket(bucketCursors), tx.Bucket(bucketMeta)
		last := uint64(0)
		if v := meta.Get(keyLastSeq); len(v) == 8 {
			last = binary.BigEndian.Uint64(v)
		}
		o.first = 0
		c := entries.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			seq := binary.BigEndian.Uint64(k)
			if o.first == 0 {
				o.first = seq
			}
			last = max(last, seq)
			o.stored++
			o.storedBytes += int64(len(v))
		}
		o.nextSeq, o.durable = last+1, last
		if o.first == 0 {
			o.first = o.nextSeq
		}
		configured := map[string]bool{}
		for _, name := range o.opts.Readers {
			configured[name] = true
			cur := o.first - 1 // a new reader starts at the oldest stored entry
			if v := cursors.Get([]byte(name)); len(v) == 8 {
				cur = max(binary.BigEndian.Uint64(v), o.first-1)
			}
			o.cursors[name] = min(cur, last)
			if err := cursors.Put([]byte(name), seqKey(o.cursors[name])); err != nil {
				return err
			}
		}
		var dropped [][]byte
		_ = cursors.ForEach(func(k, _ []byte) error {
			if !configured[string(k)] {
				dropped = append(dropped, append([]byte(nil), k...))
			}
			return nil
		})
		for _, k := range dropped {
			o.log.Info("outbox reader no longer configured; its cursor is dropped", "reader", string(k))
			if err := cursors.Delete(k); err != nil {
				return err
			}
		}
		if o.stored > 0 {
			o.log.Info("outbox opened with stored entries", "entries", o.stored, "bytes", o.storedBytes,
				"first_seq", o.first, "last_seq", last)
		}
		return nil
	})
}

func seqFromKey(k []byte) uint64 { return binary.BigEndian.Uint64(k) }

func seqKey(seq uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, seq)
	return k
}

// broadcast wakes every waiter; callers hold mu.
func (o *Outbox) broadcast() {
	close(o.changed)
	o.changed = make(chan struct{})
}

func (o *Outbox) kickCommit() {
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

// Append stores a copy of entry and returns its sequence number. Under SyncAlways (and for
// the Count-th entry under SyncCount) it returns once the entry is fsynced; otherwise once it
// is queued for the next commit. When the outbox is full Append waits for readers to free
// space; when the disk fails it retries every Options.RetryInterval. Both waits end with ctx:
// before the entry was appended the error wraps ctx's error; after, it wraps [ErrNotDurable].
func (o *Outbox) Append(ctx context.Context, entry []byte) (uint64, error) {
	return o.AppendBatch(ctx, [][]byte{entry})
}

// AppendBatch is Append for several entries, which get consecutive sequence numbers (the
// first is returned) and share one commit: under SyncAlways a batch costs one fsync, so the
// caller should hand over all the events of one inference batch at once. It waits until the
// whole batch fits; a batch larger than the cap is refused ([ErrTooLarge]).
func (o *Outbox) AppendBatch(ctx context.Context, entries [][]byte) (uint64, error) {
	if len(entries) == 0 {
		return 0, fmt.Errorf("%w: empty batch", ErrOptions)
	}
	var size int64
	for _, e := range entries {
		size += int64(len(e))
	}
	if size > o.opts.MaxBytes || len(entries) > o.opts.MaxEntries {
		return 0, fmt.Errorf("%w: %d entries of %d bytes, cap %d entries of %d bytes",
			ErrTooLarge, len(entries), size, o.opts.MaxEntries, o.opts.MaxBytes)
	}
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return 0, ErrClosed
	}
	o.ops.Add(1)
	defer o.ops.Done()
	if o.stored+len(entries) > o.opts.MaxEntries || o.storedBytes+size > o.opts.MaxBytes {
		if err := o.waitForSpace(ctx, len(entries), size); err != nil {
			o.mu.Unlock()
			return 0, err
		}
	}
	first := o.nextSeq
	for _, e := range entries {
		o.pending = append(o.pending, pendingEntry{seq: o.nextSeq, data: append([]byte(nil), e...)})
		o.nextSeq++
	}
	last := o.nextSeq - 1
	o.stored += len(entries)
	o.storedBytes += size
	o.stats.appended += uint64(len(entries))
	mustCommit := o.opts.Sync.Mode == SyncAlways ||
		(o.opts.Sync.Mode == SyncCount && len(o.pending) >= o.opts.Sync.Count)
	o.mu.Unlock()
	if !mustCommit {
		return first, nil
	}
	return first, o.waitDurable(ctx, last)
}

// waitForSpace waits, with mu held on entry and return, until n more entries of size bytes
// fit.
func (o *Outbox) waitForSpace(ctx context.Context, n int, size int64) error {
	start := time.Now()
	o.waiting++
	o.stats.blockedAppends++
	o.log.Debug("outbox full; append waits", "entries", o.stored, "bytes", o.storedBytes)
	defer func() {
		o.waiting--
		o.stats.blockedTime += time.Since(start)
	}()
	for o.stored+n > o.opts.MaxEntries || o.storedBytes+size > o.opts.MaxBytes {
		ch := o.changed
		o.mu.Unlock()
		o.kickCommit() // acknowledged entries may be waiting for deletion
		select {
		case <-ch:
		case <-ctx.Done():
			o.mu.Lock()
			return fmt.Errorf("outbox: waiting for space (%d entries, %d bytes stored): %w", o.stored, o.storedBytes, ctx.Err())
		}
		o.mu.Lock()
		if o.closed {
			return ErrClosed
		}
	}
	return nil
}

// waitDurable commits until seq is on disk, retrying disk errors.
func (o *Outbox) waitDurable(ctx context.Context, seq uint64) error {
	for {
		o.mu.Lock()
		durable, closed := o.durable >= seq, o.closed
		o.mu.Unlock()
		if durable {
			return nil
		}
		if closed {
			return fmt.Errorf("%w: entry %d: outbox closing (Close writes it)", ErrNotDurable, seq)
		}
		err := o.commit(false)
		if err == nil {
			continue
		}
		select {
		case <-time.After(o.opts.RetryInterval):
		case <-o.stop: // Close takes over the retries
		case <-ctx.Done():
			return fmt.Errorf("%w: entry %d: %w (last disk error: %w)", ErrNotDurable, seq, ctx.Err(), err)
		}
	}
}

// commit writes the pending entries (unless cursorsOnly), the changed cursors and the
// deletion of entries every reader has acknowledged in one fsynced transaction.
func (o *Outbox) commit(cursorsOnly bool) error {
	o.flushMu.Lock()
	defer o.flushMu.Unlock()

	o.mu.Lock()
	batch := o.pending
	if cursorsOnly {
		batch = nil
	}
	n := len(batch)
	var cursors map[string]uint64
	if o.dirty {
		cursors = make(map[string]uint64, len(o.cursors))
		for k, v := range o.cursors {
			cursors[k] = v
		}
		o.dirty = false
	}
	delFrom, delTo := o.first, min(o.ackedThrough(), o.first+maxDeletesPerCommit-1)
	o.mu.Unlock()
	if n == 0 && cursors == nil && delTo < delFrom {
		return nil
	}

	var freedBytes int64
	freed := 0
	err := o.db.Update(func(tx *bolt.Tx) error {
		entries := tx.Bucket(bucketEntries)
		for _, e := range batch {
			if err := entries.Put(seqKey(e.seq), e.data); err != nil {
				return err
			}
		}
		if n > 0 {
			if err := tx.Bucket(bucketMeta).Put(keyLastSeq, seqKey(batch[n-1].seq)); err != nil {
				return err
			}
		}
		for name, seq := range cursors {
			if err := tx.Bucket(bucketCursors).Put([]byte(name), seqKey(seq)); err != nil {
				return err
			}
		}
		for seq := delFrom; seq <= delTo; seq++ {
			k := seqKey(seq)
			freedBytes += int64(len(entries.Get(k)))
			if err := entries.Delete(k); err != nil {
				return err
			}
			freed++
		}
		return nil
	})

	o.mu.Lock()
	defer o.mu.Unlock()
	if err != nil {
		if cursors != nil {
			o.dirty = true
		}
		o.stats.diskErrors++
		if o.diskErr == nil || time.Since(o.lastErrLog) >= errLogInterval {
			o.log.Error("outbox write failed; appends wait and retry", "err", err, "pending", len(o.pending))
			o.lastErrLog = time.Now()
		}
		o.diskErr = err
		return fmt.Errorf("outbox: commit: %w", err)
	}
	if o.diskErr != nil {
		o.log.Info("outbox writes recovered", "pending", len(o.pending))
		o.diskErr = nil
	}
	o.stats.commits++
	if n > 0 {
		o.durable = batch[n-1].seq
		o.pending = append([]pendingEntry(nil), o.pending[n:]...)
	}
	if freed > 0 {
		o.first = delTo + 1
		o.stored -= freed
		o.storedBytes -= freedBytes
	}
	if n > 0 || freed > 0 {
		o.broadcast()
	}
	if freed == maxDeletesPerCommit && o.first <= o.ackedThrough() {
		o.kickCommit() // more to delete than one commit takes
	}
	return nil
}

// ackedThrough is the highest seq every reader has acknowledged; callers hold mu. With no
// readers every durable entry counts as acknowledged.
func (o *Outbox) ackedThrough() uint64 {
	through := o.durable
	for _, c := range o.cursors {
		through = min(through, c)
	}
	return through
}

// run is the background committer. It commits pending entries every interval (SyncInterval),
// every second (SyncCount) or every RetryInterval (SyncAlways, where Append commits and this
// only retries after a disk error); it persists acknowledged cursors and deletes what they
// free every cursorPeriod, and at once when an Append waits for space.
func (o *Outbox) run() {
	defer close(o.done)
	period := o.opts.RetryInterval
	switch o.opts.Sync.Mode {
	case SyncInterval:
		period = o.opts.Sync.Interval
	case SyncCount:
		period = min(period, countFlushPeriod)
	}
	entriesTick := time.NewTicker(period)
	defer entriesTick.Stop()
	cursorsTick := time.NewTicker(cursorPeriod)
	defer cursorsTick.Stop()
	for {
		// Errors are logged and reported by commit, and retried on the next tick.
		select {
		case <-o.stop:
			return
		case <-entriesTick.C:
			_ = o.commit(false)
		case <-cursorsTick.C:
			_ = o.commit(true)
		case <-o.kick:
			_ = o.commit(true)
		}
	}
}

// Err returns the last disk write error, or nil once a commit has succeeded since.
func (o *Outbox) Err() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.diskErr
}

// Full reports whether an Append is waiting for space.
func (o *Outbox) Full() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.waiting > 0
}

// Stats is a snapshot of the outbox's state and counters since Open.
type Stats struct {
	Entries    int   // stored entries, committed or pending
	Bytes      int64 // their bytes
	MaxEntries int
	MaxBytes   int64
	Pending    int    // appended, not yet committed
	LastSeq    uint64 // highest seq appended (0: none ever)
	DurableSeq uint64 // highest seq committed
	Appended   uint64
	Commits    uint64 // write transactions, one fsync each
	// BlockedAppends and BlockedTime count Appends that waited for space, and for how long.
	BlockedAppends uint64
	BlockedTime    time.Duration
	Full           bool   // an Append is waiting for space now
	DiskErrors     uint64 // failed commits
	Err            error  // the last disk error while it persists
	// Readers maps each reader to its acknowledged cursor and lag (durable entries after it).
	Readers map[string]ReaderStats
}

// ReaderStats is one reader's position.
type ReaderStats struct {
	Cursor uint64
	Lag    uint64
}

// Stats returns a snapshot.
func (o *Outbox) Stats() Stats {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := Stats{
		Entries: o.stored, Bytes: o.storedBytes, MaxEntries: o.opts.MaxEntries, MaxBytes: o.opts.MaxBytes,
		Pending: len(o.pending), LastSeq: o.nextSeq - 1, DurableSeq: o.durable,
		Appended: o.stats.appended, Commits: o.stats.commits,
		BlockedAppends: o.stats.blockedAppends, BlockedTime: o.stats.blockedTime, Full: o.waiting > 0,
		DiskErrors: o.stats.diskErrors, Err: o.diskErr,
		Readers: make(map[string]ReaderStats, len(o.cursors)),
	}
	for name, c := range o.cursors {
		s.Readers[name] = ReaderStats{Cursor: c, Lag: o.durable - c}
	}
	return s
}

// Close stops the committer, waits for calls in progress, then commits everything appended
// and acknowledged, retrying disk errors until ctx ends. Only then is an appended entry
// abandoned, and the error says how many. Blocked Appends and Reader.Next return ErrClosed,
// and so does a later Ack: stop the delivery loops first so that their last acknowledgements
// are kept (otherwise those entries are only delivered again at the next start).
func (o *Outbox) Close(ctx context.Context) error {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return ErrClosed
	}
	o.closed = true
	o.broadcast()
	o.mu.Unlock()
	close(o.stop)
	<-o.done
	o.ops.Wait()
	var err error
	for {
		if err = o.commit(false); err == nil {
			break
		}
		select {
		case <-time.After(o.opts.RetryInterval):
			continue
		case <-ctx.Done():
		}
		o.mu.Lock()
		lost := len(o.pending)
		o.mu.Unlock()
		_ = o.db.Close()
		return fmt.Errorf("outbox: close: %d entries not written: %w (%w)", lost, ctx.Err(), err)
	}
	if err := o.db.Close(); err != nil {
		return fmt.Errorf("outbox: close: %w", err)
	}
	return nil
}
