package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/actionstream/actionstream/events"
	"github.com/actionstream/actionstream/ingest/whip/whipclient"
	"github.com/actionstream/actionstream/internal/testkit"
	"github.com/actionstream/actionstream/internal/testkit/testutil"
)

// TestServeWHIP publishes a generated H.264 stream from a pion publisher to `serve`: the WHIP
// endpoint is mounted next to the pipeline's routes, a wrong token gets 401, the stream is
// scored into the JSON-lines sink, its thumbnail is served, and DELETE ends it.
func TestServeWHIP(t *testing.T) {
	const token = "serve-token"
	base, eventsPath, stderr := servedWHIP(t, token)
	frames, err := whipclient.ReadH264(testkit.MakeVideo(t, t.TempDir(), testkit.Video{FPS: "30", Seconds: 2, Size: "160x120", Ext: "h264"}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	_, err = whipclient.Publish(ctx, whipclient.Options{URL: base + "/whip/cam-1", Token: "wrong", Codec: "h264"})
	var he *whipclient.HTTPError
	if !errors.As(err, &he) || he.Status != http.StatusUnauthorized {
		t.Fatalf("wrong token: %v", err)
	}
	pub, err := whipclient.Publish(ctx, whipclient.Options{URL: base + "/whip/cam-1", Token: token, Codec: "h264"})
	if err != nil {
		t.Fatalf("publish: %v\n%s", err, stderr.String())
	}
	defer pub.Close()
	sendCtx, stopSend := context.WithCancel(ctx)
	sent := make(chan error, 1)
	go func() {
		if err := pub.WaitConnected(sendCtx); err != nil {
			sent <- err
			return
		}
		sent <- pub.Send(sendCtx, frames, 30, true, nil)
	}()
	testutil.WaitFor(t, 40*time.Second, func() bool { return countEvents(t, eventsPath, "cam-1", events.TypeClipScored) >= 3 },
		func() string { return fmt.Sprintf("streams %+v\n%s", apiStreams(t, base), stderr.String()) })

	resp, err := dashGet(base + "/api/streams/cam-1/thumbnail.jpg")
	if err != nil {
		t.Fatal(err)
	}
	jpg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(jpg) < 100 || jpg[0] != 0xff || jpg[1] != 0xd8 {
		t.Errorf("thumbnail: %d, %d bytes", resp.StatusCode, len(jpg))
	}
	// The pipeline's own routes still answer through the same mux.
	for _, path := range []string{"/healthz", "/metrics", "/"} {
		resp, err := dashGet(base + path)
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("%s: %v %v", path, resp, err)
		}
		resp.Body.Close()
	}
	stopSend()
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if err := pub.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, func() bool { return countEvents(t, eventsPath, "cam-1", events.TypeStreamDown) == 1 },
		testutil.Says("no stream.down after DELETE"))
}

// benchWHIPArgs runs the full benchmark from the test binary, e.g.
// go test ./cmd/actionstream -run TestBenchWHIP -v -args -bench-whip-args="--arch x3d-xs --duration 60s"
var benchWHIPArgs = flag.String("bench-whip-args", "", "arguments for `bench whip` in TestBenchWHIP (default: a short run on the tiny model)")

// TestBenchWHIP runs `bench whip` briefly on the tiny model: every clip's glass-to-event latency
// is positive and bounded, and the inference time is reported beside it.
func TestBenchWHIP(t *testing.T) {
	args := []string{"--model", testkit.TinyModel(t), "--size", "160x120", "--duration", "5s", "--warmup", "1s", "--threads", "1", "--json"}
	if *benchWHIPArgs != "" {
		args = append(strings.Fields(*benchWHIPArgs), "--json")
	}
	var out, errOut bytes.Buffer
	if err := cmdBenchWHIP(context.Background(), args, &out, &errOut); err != nil {
		t.Fatalf("bench whip: %v\n%s", err, errOut.String())
	}
	t.Logf("bench whip %v:\n%s", args, out.String())
	var res map[string]any
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	med, p99, inf := res["latency_median_ms"].(float64), res["latency_p99_ms"].(float64), res["inference_median_ms"].(float64)
	if res["clips"].(float64) < 5 || med <= 0 || p99 < med || inf <= 0 || (*benchWHIPArgs == "" && p99 > 2000) {
		t.Fatalf("implausible result %v", res)
	}
}
