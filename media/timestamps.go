package media

import (
	"context"
	"time"

	"github.com/asticode/go-astiav"
)

// timestamps converts a stream's packet times (ticks of its time base) into durations from the
// stream start plus an offset.
type timestamps struct {
	num, den, start int64
	offset          time.Duration
	// A packet with no timestamps at all follows the previous one.
	lastPTS, lastDur time.Duration
}

func newTimestamps(tb astiav.Rational, start int64, offset time.Duration) timestamps {
	num, den := int64(tb.Num()), int64(tb.Den())
	if num <= 0 || den <= 0 {
		num, den = 1, 90000
	}
	return timestamps{num: num, den: den, start: start, offset: offset, lastPTS: offset}
}

func (t *timestamps) convert(pts, dts, dur int64) Packet {
	if t.start == NoTS {
		// The container did not say where the stream starts: its first timestamp does.
		switch {
		case pts != NoTS:
			t.start = pts
		case dts != NoTS:
			t.start = dts
		}
	}
	var p Packet
	if dts != NoTS {
		p.DTS, p.HasDTS = t.at(dts), true
	}
	switch {
	case pts != NoTS:
		p.PTS = t.at(pts)
	case p.HasDTS:
		p.PTS, p.NoPTS = p.DTS, true
	default:
		p.PTS, p.NoPTS = t.lastPTS+t.lastDur, true
	}
	if dur > 0 {
		p.Duration = scaleTS(dur, t.num, t.den)
		t.lastDur = p.Duration
	}
	t.lastPTS = p.PTS
	return p
}

func (t *timestamps) at(ts int64) time.Duration { return scaleTS(ts-t.start, t.num, t.den) + t.offset }

// scaleTS converts v ticks of num/den seconds to a Duration without overflowing for any
// realistic stream length.
func scaleTS(v, num, den int64) time.Duration {
	q, r := v/den, v%den
	return time.Duration(q*num*int64(time.Second) + r*num*int64(time.Second)/den)
}

// frameDuration is one frame at the stream's average frame rate, else its base rate, else 0.
func frameDuration(rates ...astiav.Rational) time.Duration {
	for _, r := range rates {
		// Demuxers that know nothing report 0/0, 0/1 or absurd rates like 90000/1.
		if r.Num() > 0 && r.Den() > 0 && r.Num() <= 1000*r.Den() {
			return time.Duration(int64(r.Den()) * int64(time.Second) / int64(r.Num()))
		}
	}
	return 0
}

// pacer holds packets back to native speed: packet times map to wall time from the first.
type pacer struct {
	on    bool
	wall  time.Time
	first time.Duration
	timer *time.Timer
}

func newPacer(on bool) *pacer {
	p := &pacer{on: on}
	if on {
		p.timer = time.NewTimer(time.Hour)
		p.timer.Stop()
	}
	return p
}

// wait returns when the packet at stream time at is due, or ctx's error.
func (p *pacer) wait(ctx context.Context, at time.Duration) error {
	if p.wall.IsZero() {
		p.wall, p.first = time.Now(), at
		return nil
	}
	d := time.Until(p.wall.Add(at - p.first))
	if d <= 0 {
		return nil
	}
	p.timer.Reset(d)
	select {
	case <-ctx.Done():
		p.timer.Stop()
		return ctx.Err()
	case <-p.timer.C:
		return nil
	}
}

func (p *pacer) stop() {
	if p.timer != nil {
		p.timer.Stop()
	}
}
