package fit

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// TrainProgress is one "train" progress line of the trainer.
type TrainProgress struct {
	Step      int     `json:"step"`
	Total     int     `json:"total"`
	Epoch     int     `json:"epoch"`
	Epochs    int     `json:"epochs"`
	Loss      float64 `json:"loss"`
	Acc       float64 `json:"acc"`
	LR        float64 `json:"lr"`
	ClipsPerS float64 `json:"clips_per_s"`
	Elapsed   float64 `json:"elapsed_s"`
}

// bar draws a one-line progress bar with an ETA; Go renders, so the trainer only
// reports numbers. The ETA comes from the step rate since the first line this run saw,
// so a resumed run estimates only what is left.
type bar struct {
	w         io.Writer
	now       func() time.Time
	firstStep int
	firstAt   time.Time
	lastLen   int
}

func newBar(w io.Writer) *bar { return &bar{w: w, now: time.Now, firstStep: -1} }

const barWidth = 24

// Line renders the bar for p as it would be printed (no carriage return).
func (b *bar) line(p TrainProgress) string {
	now := b.now()
	if b.firstStep < 0 {
		b.firstStep, b.firstAt = p.Step, now
	}
	frac := 0.0
	if p.Total > 0 {
		frac = float64(p.Step) / float64(p.Total)
	}
	fill := int(frac * barWidth)
	fill = min(max(fill, 0), barWidth)
	eta := "--"
	if done := p.Step - b.firstStep; done > 0 {
		per := now.Sub(b.firstAt) / time.Duration(done)
		eta = fmtDuration(per * time.Duration(p.Total-p.Step))
	}
	return fmt.Sprintf("epoch %d/%d [%s%s] %3.0f%% %d/%d loss %.4f acc %.3f lr %.4f %.1f clips/s ETA %s",
		p.Epoch, p.Epochs, strings.Repeat("=", fill), strings.Repeat(" ", barWidth-fill), 100*frac,
		p.Step, p.Total, p.Loss, p.Acc, p.LR, p.ClipsPerS, eta)
}

func (b *bar) update(p TrainProgress) {
	if b.w == nil {
		return
	}
	s := b.line(p)
	pad := ""
	if n := b.lastLen - len(s); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	b.lastLen = len(s)
	fmt.Fprintf(b.w, "\r%s%s", s, pad)
}

// epoch prints the finished epoch's summary on its own line.
func (b *bar) epoch(e Epoch) {
	if b.w == nil {
		return
	}
	s := fmt.Sprintf("epoch %d: train loss %.4f acc %.3f", e.Epoch, e.TrainLoss, e.TrainAcc)
	if e.ValMAP != nil {
		s += fmt.Sprintf(", val loss %.4f frame-mAP@0.5 %.3f centre acc %.3f", deref(e.ValLoss), *e.ValMAP, deref(e.ValTop1))
	} else if e.ValTop1 != nil {
		s += fmt.Sprintf(", val loss %.4f top-1 %.3f", deref(e.ValLoss), *e.ValTop1)
		if e.ValTop5 != nil {
			s += fmt.Sprintf(" top-5 %.3f", *e.ValTop5)
		}
	}
	s += fmt.Sprintf(", %.1f clips/s, %s", e.ClipsPerS, fmtDuration(time.Duration(e.Seconds*float64(time.Second))))
	pad := ""
	if n := b.lastLen - len(s); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	b.lastLen = 0
	fmt.Fprintf(b.w, "\r%s%s\n", s, pad)
}

// features shows the frozen backbone's feature pass (detection --freeze-backbone).
func (b *bar) features(step, total int) {
	if b.w == nil {
		return
	}
	s := fmt.Sprintf("backbone features %d/%d clips", step, total)
	b.lastLen = len(s)
	fmt.Fprintf(b.w, "\r%s", s)
}

func (b *bar) done() {
	if b.w != nil && b.lastLen > 0 {
		fmt.Fprintln(b.w)
		b.lastLen = 0
	}
}

func deref(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}

func fmtDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	d = d.Round(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	if h > 0 {
		return fmt.Sprintf("%dh%02dm%02ds", h, m, s)
	}
	if m > 0 {
		return fmt.Sprintf("%dm%02ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}
