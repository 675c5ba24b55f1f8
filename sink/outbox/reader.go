package outbox

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Entry is one stored entry: its sequence number and the bytes given to Append.
type Entry struct {
	Seq  uint64
	Data []byte
}

// Reader is one consumer's view of the outbox, with its own cursor: the highest sequence
// number it has acknowledged. It is meant for one delivery loop; its methods are safe for
// concurrent use nonetheless.
type Reader struct {
	o    *Outbox
	name string
}

// Reader returns the reader called name, which must be one of Options.Readers. Each name can
// be taken once per Open.
func (o *Outbox) Reader(name string) (*Reader, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil, ErrClosed
	}
	if _, ok := o.cursors[name]; !ok {
		return nil, fmt.Errorf("%w: %q (configured: %q)", ErrUnknownReader, name, o.opts.Readers)
	}
	if _, ok := o.readers[name]; ok {
		return nil, fmt.Errorf("%w: %q", ErrReaderInUse, name)
	}
	r := &Reader{o: o, name: name}
	o.readers[name] = r
	return r, nil
}

// Name returns the reader's name.
func (r *Reader) Name() string { return r.name }

// Next returns up to max of the oldest committed entries after the cursor, waiting until there
// is at least one, ctx ends or the outbox closes ([ErrClosed]). Without an Ack in between, the
// next call returns the same entries again (plus any newer ones, up to max).
func (r *Reader) Next(ctx context.Context, max int) ([]Entry, error) {
	if max <= 0 {
		return nil, fmt.Errorf("%w: Next max %d must be positive", ErrOptions, max)
	}
	o := r.o
	for {
		o.mu.Lock()
		if o.closed {
			o.mu.Unlock()
			return nil, ErrClosed
		}
		cur := o.cursors[r.name]
		if o.durable > cur {
			from, to := cur+1, min(o.durable, cur+uint64(max))
			o.ops.Add(1)
			o.mu.Unlock()
			entries, err := o.read(from, to)
			o.ops.Done()
			return entries, err
		}
		ch := o.changed
		o.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// read copies the committed entries from..to (inclusive); they exist because deletion never
// passes a reader's cursor.
func (o *Outbox) read(from, to uint64) ([]Entry, error) {
	out := make([]Entry, 0, to-from+1)
	err := o.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEntries).Cursor()
		for k, v := c.Seek(seqKey(from)); k != nil; k, v = c.Next() {
			e := Entry{Seq: seqFromKey(k), Data: append([]byte(nil), v...)}
			if e.Seq > to {
				break
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("outbox: read %d..%d: %w", from, to, err)
	}
	if len(out) == 0 || out[0].Seq != from || out[len(out)-1].Seq != to || len(out) != int(to-from+1) {
		return nil, fmt.Errorf("outbox: read %d..%d: store returned %d entries: database inconsistent", from, to, len(out))
	}
	return out, nil
}

// Ack advances the cursor through seq: those entries are delivered and this reader no longer
// needs them. The cursor is persisted with the next commit: an Append's, or the background's
// within 100 ms (at once when an Append waits for space), so a busy outbox spends no fsync of
// its own on it. An Ack lost in a crash only means those entries are delivered again. Acking
// at or below the cursor does nothing.
func (r *Reader) Ack(seq uint64) error {
	o := r.o
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return ErrClosed
	}
	if seq > o.durable {
		o.mu.Unlock()
		return fmt.Errorf("%w: reader %q acked %d, last durable %d", ErrAckBeyond, r.name, seq, o.durable)
	}
	if seq <= o.cursors[r.name] {
		o.mu.Unlock()
		return nil
	}
	o.cursors[r.name] = seq
	o.dirty = true
	spaceWanted := o.waiting > 0
	o.mu.Unlock()
	if spaceWanted {
		o.kickCommit() // delete now; otherwise the cursor rides on the next commit
	}
	return nil
}

// Cursor returns the highest acknowledged sequence number.
func (r *Reader) Cursor() uint64 {
	r.o.mu.Lock()
	defer r.o.mu.Unlock()
	return r.o.cursors[r.name]
}
