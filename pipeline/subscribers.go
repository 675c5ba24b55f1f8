package pipeline

import (
	"sync"
	"sync/atomic"

	"github.com/actionstream/actionstream/events"
)

// subscribers fans events out to live views (the dashboard). Unlike sinks they are best
// effort: a subscriber that falls behind misses events (counted) and never slows the pipeline.
type subscribers struct {
	mu     sync.Mutex
	subs   map[chan events.Event]struct{}
	missed atomic.Uint64
}

// Subscribe returns the events emitted from now on, buffering up to buf; cancel ends the
// subscription and closes the channel.
func (p *Pipeline) Subscribe(buf int) (<-chan events.Event, func()) {
	ch := make(chan events.Event, buf)
	p.subs.mu.Lock()
	if p.subs.subs == nil {
		p.subs.subs = map[chan events.Event]struct{}{}
	}
	p.subs.subs[ch] = struct{}{}
	p.subs.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			p.subs.mu.Lock()
			delete(p.subs.subs, ch)
			p.subs.mu.Unlock()
			close(ch)
		})
	}
}

func (s *subscribers) publish(evs []events.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.subs {
		for _, e := range evs {
			select {
			case ch <- e:
			default:
				s.missed.Add(1)
			}
		}
	}
}
