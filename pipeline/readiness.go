package pipeline

import (
	"fmt"
	"time"
)

// Readiness says whether the daemon should receive traffic and, when not, every reason:
// not running (starting or stopping), an outbox disk error, an outbox that is full (inference
// waits) or past its high-water mark (sinks.outbox.high_water of either cap), or a sink that
// has been failing longer than sinks.down_grace. A failing stream does not make the daemon
// unready (the others still run); /api/streams and /metrics say which and why.
func (p *Pipeline) Readiness() (ready bool, problems []string) {
	p.mu.Lock()
	running := p.ready
	p.mu.Unlock()
	if !running {
		problems = append(problems, "not running")
	}
	if p.durable != nil {
		st, ss := p.durable.Stats()
		if st.Err != nil {
			problems = append(problems, fmt.Sprintf("outbox disk error: %v", st.Err))
		}
		if st.Full {
			problems = append(problems, fmt.Sprintf("outbox full (%d events, %d bytes): inference waits", st.Entries, st.Bytes))
		} else if hw := p.cfg.Sinks.Outbox.HighWater; float64(st.Entries) >= hw*float64(st.MaxEntries) || float64(st.Bytes) >= hw*float64(st.MaxBytes) {
			problems = append(problems, fmt.Sprintf("outbox past its high-water mark: %d of %d events, %d of %d bytes", st.Entries, st.MaxEntries, st.Bytes, st.MaxBytes))
		}
		grace, now := p.cfg.Sinks.DownGrace.D(), time.Now()
		for _, s := range ss {
			if down := s.DownFor(now); down > grace {
				problems = append(problems, fmt.Sprintf("sink %s down for %s (grace %s), %d events waiting", s.Name, down.Round(time.Second), grace, s.Lag))
			}
		}
	}
	return len(problems) == 0, problems
}

// Ready reports whether the model is loaded, streams are running and the event path is
// healthy (see Readiness).
func (p *Pipeline) Ready() bool {
	ok, _ := p.Readiness()
	return ok
}
