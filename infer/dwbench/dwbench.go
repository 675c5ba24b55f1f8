// Package dwbench compares the implementations of X3D's channel-wise 3×3×3 convolution in one
// alternating run (`actionstream bench dwconv`): ONNX Runtime's Conv (a one-node model),
// the same model with infer/dwconv's custom op, infer/dwconv called directly on each SIMD
// path this CPU has, and oneDNN (builds with -tags dnnl); then a whole model end to end with
// each depthwise kernel. Every round runs every implementation once, so load drifts hit all
// of them alike; min, median and max over the rounds are reported with the load average.
package dwbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/infer/dwconv"

	"github.com/actionstream/actionstream/hostinfo"
)

// ErrNoDepthwise: the model given for the end-to-end part has no layer the kernel takes.
var ErrNoDepthwise = errors.New("dwbench: no depthwise layer")

// Options of a comparison.
type Options struct {
	Model   string // whole model timed end to end (X3D-S); "" skips that part
	Threads int    // threads of every implementation; 0 = one per CPU
	Rounds  int    // 0 = 7
	Batches []int  // end-to-end batch sizes; nil = 1 and 4
	Calls   int    // end-to-end model calls per implementation per round; 0 = 3
	// Blocked adds oneDNN with its blocked layouts forced (nCdhw8c, nCdhw16c) on the two
	// largest layers: oneDNN 2.6 has only its reference code for them, which is slow.
	Blocked bool
}

// X3DS are the channel-wise 3×3×3 layers of X3D-S (crop 160, 13 frames), one per distinct
// shape, with how many the network has of each: every stage's first block (spatial stride
// 2) and its other blocks. 26 layers, 277 M multiply-adds per clip.
func X3DS() []Layer {
	var ls []Layer
	for _, l := range []struct{ c, hw, s, count int }{
		{54, 80, 2, 1}, {54, 40, 1, 2}, {108, 40, 2, 1}, {108, 20, 1, 4},
		{216, 20, 2, 1}, {216, 10, 1, 10}, {432, 10, 2, 1}, {432, 5, 1, 6},
	} {
		g := dwconv.Geometry{C: l.c, T: 13, H: l.hw, W: l.hw, Kernel: [3]int{3, 3, 3}, Strides: [3]int{1, l.s, l.s}, Pads: [6]int{1, 1, 1, 1, 1, 1}}
		ls = append(ls, Layer{Geometry: g, Count: l.count})
	}
	return ls
}

// Layer is one layer shape and how many of it a network has.
type Layer struct {
	dwconv.Geometry
	Count int
}

// Stats are min, median and max of one implementation's times over the rounds.
type Stats struct {
	Min, Median, Max time.Duration
}

func stats(d []time.Duration) Stats {
	s := slices.Clone(d)
	slices.Sort(s)
	return Stats{Min: s[0], Median: s[len(s)/2], Max: s[len(s)-1]}
}

// LayerResult is one layer shape's figures per implementation.
type LayerResult struct {
	Layer Layer
	MACs  int64            // one call (batch 1)
	Bytes int64            // input + output + weights of one call
	Order []string         // implementations in the order they ran in each round
	Times map[string]Stats // by implementation
	Notes map[string]string
}

// E2EResult is the whole model per depthwise kernel and batch: time per model call.
type E2EResult struct {
	Batch int
	Times map[string]Stats
}

// Result is the whole comparison.
type Result struct {
	CPU                   string
	Flags                 string // the SIMD extensions this CPU reports
	MHz                   float64
	Threads               int
	Rounds                int
	LoadBefore, LoadAfter string
	CopyGBps              float64 // this machine's memory bandwidth, measured alongside (read+write)
	Impls                 []string
	Layers                []LayerResult
	Model                 string
	ModelImpls            []string
	E2E                   []E2EResult
}

type impl struct {
	name  string
	run   func() error
	close func()
}

// Run performs the comparison.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Threads <= 0 {
		o.Threads = runtime.NumCPU()
	}
	if o.Rounds <= 0 {
		o.Rounds = 7
	}
	if o.Calls <= 0 {
		o.Calls = 3
	}
	if o.Batches == nil {
		o.Batches = []int{1, 4}
	}
	res := &Result{Threads: o.Threads, Rounds: o.Rounds, LoadBefore: hostinfo.LoadAverage(), Model: o.Model}
	res.CPU, res.Flags, res.MHz = cpuInfo()
	res.CopyGBps = copyBandwidth()

	rtORT, err := infer.NewRuntime(infer.Options{Threads: o.Threads, DepthwiseKernel: infer.DepthwiseORT})
	if err != nil {
		return nil, err
	}
	defer rtORT.Close()
	rtOwn, err := infer.NewRuntime(infer.Options{Threads: o.Threads, DepthwiseKernel: infer.DepthwiseOwn})
	if err != nil {
		return nil, err
	}
	defer rtOwn.Close()

	// The model is opened first so that a bad one fails before minutes of layer timing.
	var models []*infer.Model
	if o.Model != "" {
		for _, rt := range []*infer.Runtime{rtORT, rtOwn} {
			m, err := rt.Open(o.Model)
			if err != nil {
				return nil, err
			}
			defer m.Close()
			if rt == rtOwn && m.DepthwiseNodes == 0 {
				return nil, fmt.Errorf("%w: %s has no channel-wise 3×3×3 convolution to substitute", ErrNoDepthwise, o.Model)
			}
			models = append(models, m)
			name := m.Depthwise
			if m.DepthwiseNodes > 0 {
				name = fmt.Sprintf("%s (%d nodes)", m.Depthwise, m.DepthwiseNodes)
			}
			res.ModelImpls = append(res.ModelImpls, name)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i, l := range X3DS() {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		lr, err := layer(ctx, o, l, i < 2, r, rtORT, rtOwn)
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", Name(l.Geometry), err)
		}
		res.Layers = append(res.Layers, lr)
		for _, k := range lr.Order {
			if !slices.Contains(res.Impls, k) {
				res.Impls = append(res.Impls, k)
			}
		}
	}
	if len(models) > 0 {
		if err := endToEnd(ctx, o, res, models); err != nil {
			return nil, err
		}
	}
	res.LoadAfter = hostinfo.LoadAverage()
	return res, nil
}

// Name is a layer's short name: channels, input size, stride.
func Name(g dwconv.Geometry) string {
	return fmt.Sprintf("%dch %dx%dx%d s%d", g.C, g.T, g.H, g.W, g.Strides[1])
}

func layer(ctx context.Context, o Options, l Layer, large bool, r *rand.Rand, rtORT, rtOwn *infer.Runtime) (LayerResult, error) {
	g := l.Geometry
	out, err := g.Output()
	if err != nil {
		return LayerResult{}, err
	}
	macs, _ := g.MACs()
	nIn, nOut := g.C*g.T*g.H*g.W, g.C*out[0]*out[1]*out[2]
	x, w, b := floats(r, nIn), floats(r, g.C*27), floats(r, g.C)
	y := make([]float32, nOut)
	lr := LayerResult{Layer: l, MACs: macs, Bytes: int64(4 * (nIn + nOut + g.C*28)), Times: map[string]Stats{}, Notes: map[string]string{}}
	model, err := infer.DepthwiseLayerModel(g, 1, w, b)
	if err != nil {
		return lr, err
	}
	inShape := []int64{1, int64(g.C), int64(g.T), int64(g.H), int64(g.W)}
	outShape := []int64{1, int64(g.C), int64(out[0]), int64(out[1]), int64(out[2])}
	var impls []impl
	defer func() {
		for _, im := range impls {
			im.close()
		}
	}()
	for _, rt := range []*infer.Runtime{rtORT, rtOwn} {
		s, err := rt.OpenLayer(model, inShape, outShape)
		if err != nil {
			return lr, err
		}
		name := "ort Conv"
		if s.Depthwise != infer.DepthwiseORT {
			name = "ort + " + s.Depthwise + " op"
		}
		impls = append(impls, impl{name: name, run: func() error { return s.Run(x, y) }, close: func() { s.Close() }})
	}
	for _, p := range dwconv.Paths() {
		if p.Supported() {
			impls = append(impls, impl{name: "own-" + p.String(), run: func() error { return dwconv.Conv(p, g, 1, x, w, b, y, o.Threads) }, close: func() {}})
		}
	}
	if dwconv.HaveDNNL {
		blocks := []int{0}
		if o.Blocked && large {
			blocks = append(blocks, 8, 16)
		}
		for _, block := range blocks {
			d, err := dwconv.NewDNNL(g, 1, block, x, w, b)
			if err != nil {
				return lr, err
			}
			name := "onednn " + d.Input
			lr.Notes[name] = d.Impl
			reorders := block != 0
			impls = append(impls, impl{name: name, run: func() error { return d.Run(o.Threads, reorders) }, close: d.Close})
			if block != 0 { // the same primitive without the conversions
				impls = append(impls, impl{name: "onednn " + d.Input + " conv only", run: func() error { return d.Run(o.Threads, false) }, close: func() {}})
				lr.Notes["onednn "+d.Input+" conv only"] = d.Impl
			}
		}
	}
	times := make([][]time.Duration, len(impls))
	for _, im := range impls { // warm-up: first calls allocate and fill caches
		if err := im.run(); err != nil {
			return lr, fmt.Errorf("%s: %w", im.name, err)
		}
	}
	for range o.Rounds {
		if ctx.Err() != nil {
			return lr, ctx.Err()
		}
		for i, im := range impls {
			start := time.Now()
			if err := im.run(); err != nil {
				return lr, fmt.Errorf("%s: %w", im.name, err)
			}
			times[i] = append(times[i], time.Since(start))
		}
	}
	for i, im := range impls {
		lr.Times[im.name] = stats(times[i])
		lr.Order = append(lr.Order, im.name)
	}
	return lr, nil
}

func endToEnd(ctx context.Context, o Options, res *Result, models []*infer.Model) error {
	for _, n := range o.Batches {
		in := floats(rand.New(rand.NewPCG(3, 4)), n*models[0].ClipLen())
		out := make([]float32, n*models[0].Classes())
		times := make([][]time.Duration, len(models))
		for _, m := range models {
			if err := m.RunInto(in, n, out); err != nil {
				return err
			}
		}
		for range o.Rounds {
			for i, m := range models {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				for range o.Calls {
					start := time.Now()
					if err := m.RunInto(in, n, out); err != nil {
						return err
					}
					times[i] = append(times[i], time.Since(start))
				}
			}
		}
		e := E2EResult{Batch: n, Times: map[string]Stats{}}
		for i := range models {
			e.Times[res.ModelImpls[i]] = stats(times[i])
		}
		res.E2E = append(res.E2E, e)
	}
	return nil
}

func floats(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32()*2 - 1
	}
	return s
}

// cpuInfo reads the model name, SIMD flags and clock from /proc/cpuinfo (Linux).
func cpuInfo() (name, flags string, mhz float64) {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH, "", 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch {
		case k == "model name" && name == "":
			name = v
		case k == "cpu MHz" && mhz == 0:
			mhz, _ = strconv.ParseFloat(v, 64)
		case k == "flags" && flags == "":
			var simd []string
			for _, f := range strings.Fields(v) {
				if f == "avx2" || f == "fma" || f == "avx512f" {
					simd = append(simd, f)
				}
			}
			flags = strings.Join(simd, " ")
		}
	}
	return name, flags, mhz
}

// copyBandwidth is the best of a few copies of 256 MiB (bytes read + written per second,
// GB/s): the memory roof the layers' traffic is compared with.
func copyBandwidth() float64 {
	const n = 64 << 20 // floats
	src, dst := make([]float32, n), make([]float32, n)
	for i := range src {
		src[i] = 1
	}
	best := time.Duration(1 << 62)
	for range 3 {
		start := time.Now()
		copy(dst, src)
		best = min(best, time.Since(start))
	}
	return 2 * 4 * n / best.Seconds() / 1e9
}

// WriteText prints the tables.
func (r *Result) WriteText(w io.Writer) error {
	ew := &errWriter{w: w}
	ew.printf("CPU: %s (%s), %.0f MHz; %d threads; %d alternating rounds; load average before %s, after %s\n",
		r.CPU, r.Flags, r.MHz, r.Threads, r.Rounds, r.LoadBefore, r.LoadAfter)
	peak := r.MHz * 1e6 * 16 * float64(r.Threads) / 1e9 // AVX2: 2 FMA units × 8 lanes per cycle per core
	ew.printf("roofs: %.0f G multiply-adds/s (AVX2 FMA, 16 per cycle per core × %d threads; AVX-512 doubles it where the units are 512 bits wide); memory copy %.1f GB/s\n\n", peak, r.Threads, r.CopyGBps)
	for _, l := range r.Layers {
		ew.printf("%s (×%d in X3D-S; %.1f M multiply-adds, %.1f MB in+out)\n", Name(l.Layer.Geometry), l.Layer.Count, float64(l.MACs)/1e6, float64(l.Bytes)/1e6)
		base := l.Times["ort Conv"].Median
		for _, name := range r.Impls {
			s, ok := l.Times[name]
			if !ok {
				continue
			}
			gmacs := float64(l.MACs) / s.Median.Seconds() / 1e9
			gbs := float64(l.Bytes) / s.Median.Seconds() / 1e9
			note := ""
			if n := l.Notes[name]; n != "" {
				note = "  [" + n + "]"
			}
			ew.printf("  %-30s median %9.3f ms (min %9.3f, max %9.3f)  %6.2f GMAC/s = %5.1f%% of FMA roof, %5.1f%% of copy  ×%.2f vs ort%s\n",
				name, ms(s.Median), ms(s.Min), ms(s.Max), gmacs, 100*gmacs/peak, 100*gbs/r.CopyGBps, base.Seconds()/s.Median.Seconds(), note)
		}
	}
	// The network's depthwise total: each shape's median times its count.
	ew.printf("\nX3D-S's 26 depthwise layers, batch 1 (sum of medians × counts):\n")
	for _, name := range r.Impls {
		var total time.Duration
		complete := true
		for _, l := range r.Layers {
			s, ok := l.Times[name]
			if !ok {
				complete = false
				break
			}
			total += time.Duration(l.Layer.Count) * s.Median
		}
		if complete {
			ew.printf("  %-30s %9.2f ms\n", name, ms(total))
		}
	}
	if len(r.E2E) > 0 {
		ew.printf("\n%s end to end, per model call:\n", r.Model)
		for _, e := range r.E2E {
			ort := e.Times[r.ModelImpls[0]]
			for _, name := range r.ModelImpls {
				s := e.Times[name]
				ew.printf("  batch %d %-26s median %8.1f ms (min %8.1f, max %8.1f)  %6.2f clips/s  ×%.2f vs ort\n",
					e.Batch, name, ms(s.Median), ms(s.Min), ms(s.Max), float64(e.Batch)/s.Median.Seconds(), ort.Median.Seconds()/s.Median.Seconds())
			}
		}
	}
	return ew.err
}

func ms(d time.Duration) float64 { return d.Seconds() * 1e3 }

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, a ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, a...)
	}
}
