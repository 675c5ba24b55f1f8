package pipeline

import (
	"fmt"
	"log/slog"

	"github.com/actionstream/actionstream/sink"
	"github.com/actionstream/actionstream/sink/sinks"
)

// openSinks builds the event sinks: the caller's (tests, `run`) or the configured ones, each
// behind the one buffering wrapper sink/sinks gives every sink. The Redis state store is set
// when Redis is configured.
func (p *Pipeline) openSinks(given []sink.Sink, log *slog.Logger) error {
	if given != nil {
		bufs := make([]sink.Sink, len(given))
		for i, s := range given {
			bufs[i] = sinks.Buffer(fmt.Sprintf("sink%d", i), s, p.cfg.Sinks.Buffer, log)
		}
		p.out = sink.NewFanout(bufs...)
		return nil
	}
	if p.cfg.Sinks.Redis.Enabled {
		quietRedisClientLogs(log)
	}
	set, err := sinks.Open(p.cfg.Sinks, log)
	if err != nil {
		return err
	}
	p.out = set.Fanout()
	if set.Redis != nil {
		p.state = &redisState{s: set.Redis, model: p.model.Meta.Name, modelDigest: p.model.Digest}
	}
	return nil
}
