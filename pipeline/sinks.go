package pipeline

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/actionstream/actionstream/sink"
	"github.com/actionstream/actionstream/sink/sinks"
)

// openSinks builds the event sinks. Serving with the configured sinks, events go through the
// durable outbox in cfg.StateDir (sinks.OpenDurable). One-shot runs (`run`) and sinks the
// caller supplies (tests, benchmarks) keep the in-memory path: each sink behind a
// sink.Buffered, nothing on disk; a one-shot run that crashes is simply run again. The Redis
// state store is set when Redis is configured.
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
	if p.oneShot {
		set, err := sinks.Open(p.cfg.Sinks, log)
		if err != nil {
			return err
		}
		p.out = set.Fanout()
		if set.Redis != nil {
			p.state = &redisState{s: set.Redis, model: p.info.Meta.Name, modelDigest: p.info.Digest, generation: p.generation.Load}
		}
		return nil
	}
	d, err := sinks.OpenDurable(p.cfg.Sinks, p.cfg.StateDir, log, p.metrics.observeAck)
	if err != nil {
		return err
	}
	p.durable, p.outbox = d, d
	if d.Redis != nil {
		p.state = &redisState{s: d.Redis, model: p.info.Meta.Name, modelDigest: p.info.Digest, generation: p.generation.Load}
	}
	return nil
}

// startDelivery starts the outbox's delivery loops (durable path only); the returned stop
// ends them and waits.
func (p *Pipeline) startDelivery() (stop func()) {
	if p.durable == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.durable.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// closeSinks delivers what it can until work ends, then closes the sinks under done. With
// the outbox, what a dead sink has not acknowledged stays there for the next start: that is
// not an error, only logged. The in-memory path reports undelivered events as an error.
func (p *Pipeline) closeSinks(work, done context.Context, stopDelivery func()) error {
	if p.durable == nil {
		stopDelivery()
		return p.out.Close(done)
	}
	lag := p.durable.Drain(work)
	stopDelivery()
	for name, n := range lag {
		p.log.Warn("sink did not acknowledge every event before the shutdown deadline; they stay in the outbox for the next start",
			"sink", name, "events", n, "state_dir", p.cfg.StateDir)
	}
	return p.durable.Close(done)
}
