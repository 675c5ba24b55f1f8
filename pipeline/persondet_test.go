package pipeline

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/actionstream/actionstream/events"
	"github.com/actionstream/actionstream/infer/detect"
	"github.com/actionstream/actionstream/infer/persondet"
	"github.com/actionstream/actionstream/internal/testkit"
	"github.com/actionstream/actionstream/sink"
)

// bundledPersonDetector is models/person-detector.onnx (models/README.md).
const bundledPersonDetector = "../models/person-detector.onnx"

// An RoI model with detection.person_detector set gets its boxes from that detector, run on
// each clip's key frame: on the two-actor video the boxes land on the true actors.
func TestRoIWithPersonDetector(t *testing.T) {
	video := testkit.TwoActors{}
	path := video.Make(t, t.TempDir(), 4)
	out := &collect{}
	cfg := oneShotConfig(testkit.DetectionModel(t, testkit.DetectionRoI), path)
	cfg.Detection.PersonDetector.Path = bundledPersonDetector
	p, err := New(Options{Config: cfg, OneShot: true, Sinks: []sink.Sink{out}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	scored := out.ofType(events.TypeClipScored)
	var actors, onTruth int
	for _, e := range scored {
		truth := video.Truth(int(math.Round(*e.Data.KeyPTS * 30)))
		for _, a := range e.Data.Actors {
			actors++
			for _, b := range truth {
				if detect.IoU(detect.Box{a.Box.X1, a.Box.Y1, a.Box.X2, a.Box.Y2}, detect.Box(b)) >= 0.5 {
					onTruth++
					break
				}
			}
		}
	}
	t.Logf("%d clips, %d actors, %d on a true actor", len(scored), actors, onTruth)
	if len(scored) < 5 || actors < len(scored) || float64(onTruth) < 0.8*float64(actors) {
		t.Errorf("%d clips, %d actors, %d with IoU >= 0.5 on a true actor; want at least one per clip and 80%% on the truth", len(scored), actors, onTruth)
	}
}

// A person detector file that is no detector stops the pipeline at start, naming the key.
func TestRoIWithBadPersonDetector(t *testing.T) {
	cfg := oneShotConfig(testkit.DetectionModel(t, testkit.DetectionRoI), "file:///nonexistent.mp4")
	cfg.Detection.PersonDetector.Path = testkit.DetectionModel(t, testkit.DetectionSingleStage)
	_, err := New(Options{Config: cfg, OneShot: true, Sinks: []sink.Sink{&collect{}}})
	if !errors.Is(err, persondet.ErrBadModel) || !strings.Contains(err.Error(), "detection.person_detector: ") {
		t.Fatalf("err = %v, want ErrBadModel under detection.person_detector", err)
	}
}
