// Package sink delivers events to where consumers read them: JSON lines (sink/jsonl), Kafka
// (sink/kafka) and Redis (sink/redis).
//
// # Delivery policy
//
// The edge from inference to the sinks never drops an event. The sinks themselves are plain
// [Sink]s; every one is put behind the same [Buffered] wrapper (sink/sinks does so for the
// configured sinks of `run`; `serve` feeds them from the on-disk sink/outbox instead): a bounded
// in-memory buffer whose goroutine retries delivery with
// capped exponential backoff until the sink comes back. When the buffer is full, Write blocks
// (back-pressure): the results handler waits, so inference waits; decoding never waits because
// the per-stream clip queues in front of inference are latest-wins and drop stale clips instead.
// Time spent blocked and the number of blocked writes are counted in [Stats]. A full buffer and
// delivery errors are logged as periodic totals (at most one line per LogInterval each), never
// one line per event.
//
// Only two things lose events, both counted: an event the sink can never accept (an error
// wrapping [ErrPermanent], e.g. a score that is NaN cannot be JSON-encoded) is counted as
// rejected and skipped so it cannot wedge the pipeline; and events still buffered when the
// Close deadline passes are counted as undelivered and reported by Close.
//
// Delivery is at least once: a retry after an ambiguous failure can deliver an event twice,
// always with the same CloudEvents id, so a consumer drops the repeat by id.
package sink

import (
	"context"

	"github.com/actionstream/actionstream/events"
)

// Sink delivers batches of events to one destination.
//
// Contract:
//   - Write delivers batch in order, or fails. ctx belongs to the caller and bounds this call
//     only; a sink never keeps it. Write never modifies batch and does not retain it after
//     returning.
//   - Events of one stream (Data.Stream) keep their relative order across Writes made one
//     after another.
//   - A nil error means every event is delivered as far as the destination offers durability
//     (written to the file, acknowledged by all Kafka replicas, applied by Redis).
//   - An error wrapping [ErrPermanent] means retrying the same events will never succeed.
//     A [BatchError] reports per-event results: nil entries were delivered, the rest failed.
//     Any other error is retryable: the sink may be down, and retrying the whole batch later
//     is safe (duplicates carry identical ids).
//   - Write after Close returns an error wrapping [ErrClosed].
//   - Write may be called from several goroutines at once.
//   - Close flushes everything accepted by a successful Write, then releases the sink. ctx
//     bounds how long Close waits; when it expires, Close gives up, releases what it holds
//     and returns an error saying what was not delivered. Close is called once.
type Sink interface {
	Write(ctx context.Context, batch []events.Event) error
	Close(ctx context.Context) error
}
