package events

import "context"

// Outbox is the durable store events are appended to before the lifecycle that produced them
// moves on (sink/sinks implements it on sink/outbox; events does not import the sinks).
// Append returns nil once the events are stored as the store's fsync policy promises; it
// blocks while the store is full or its disk fails, until ctx ends. It never drops an event
// silently: an error says the events were not (or not yet durably) stored.
type Outbox interface {
	Append(ctx context.Context, evs []Event) error
}
