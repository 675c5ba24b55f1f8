package outbox

import "errors"

var (
	// ErrClosed is returned by every call after Close has begun.
	ErrClosed = errors.New("outbox: closed")
	// ErrOptions reports unusable Options or an unparsable fsync policy.
	ErrOptions = errors.New("outbox: invalid options")
	// ErrTooLarge is returned by Append for an entry larger than Options.MaxBytes: it could
	// never fit, so waiting for space would wait forever.
	ErrTooLarge = errors.New("outbox: entry larger than the size cap")
	// ErrUnknownReader is returned by Reader for a name not in Options.Readers.
	ErrUnknownReader = errors.New("outbox: reader not configured")
	// ErrReaderInUse is returned by Reader when the name was already handed out.
	ErrReaderInUse = errors.New("outbox: reader already in use")
	// ErrAckBeyond is returned by Ack for a sequence number that was never delivered.
	ErrAckBeyond = errors.New("outbox: ack beyond the last durable entry")
	// ErrNotDurable is returned by Append when ctx ended (or Close began) while the entry was
	// appended but not yet on disk. The entry is not withdrawn: a later commit or Close still
	// writes it, so re-appending it may deliver it twice (with identical bytes).
	ErrNotDurable = errors.New("outbox: entry appended but not yet durable")
)
