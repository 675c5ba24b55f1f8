package pipeline

import (
	"testing"
	"time"

	"github.com/actionstream/actionstream/events"
)

// The latency histogram runs from the clip's last frame (span end) to the acknowledgement,
// per sink, and skips events without a clip.
func TestLatencyIsCaptureToAck(t *testing.T) {
	m := newMetrics(&Pipeline{})
	end := time.Now().Add(-2 * time.Second)
	clip := events.Event{Type: events.TypeClipScored, Data: events.Data{Stream: "cam", Span: &events.Span{EndWall: end}}}
	up := events.Event{Type: events.TypeStreamUp, Data: events.Data{Stream: "cam"}}
	m.observeAck("kafka", []events.Event{clip, up, clip})
	m.observeAck("redis", []events.Event{up})

	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	count, sum := map[string]uint64{}, map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "actionstream_event_latency_seconds" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			sinkName := mt.GetLabel()[0].GetValue()
			count[sinkName], sum[sinkName] = mt.GetHistogram().GetSampleCount(), mt.GetHistogram().GetSampleSum()
		}
	}
	if count["kafka"] != 2 {
		t.Fatalf("kafka: %d observations, want the 2 clip events", count["kafka"])
	}
	if mean := sum["kafka"] / 2; mean < 2 || mean > 3 {
		t.Errorf("kafka: mean latency %.3f s, want about 2 s", mean)
	}
	if count["redis"] != 0 {
		t.Errorf("redis: %d observations of an event without a clip", count["redis"])
	}
}
