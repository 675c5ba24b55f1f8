package layout

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/actionstream/actionstream"

type pkg struct {
	ImportPath string
	Dir        string
	Imports    []string
	GoFiles    []string
	CgoFiles   []string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", module+"/...")
	cmd.Dir = repoRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("no go.mod two levels up: %v", err)
	}
	return dir
}

// folder is a package's top-level folder ("ingest" for ingest/whip).
func folder(importPath string) string {
	rel := strings.TrimPrefix(strings.TrimPrefix(importPath, module), "/")
	top, _, _ := strings.Cut(rel, "/")
	return top
}

// The top-level folders import each other without cycles (non-test imports).
func TestFoldersAreAcyclic(t *testing.T) {
	edges := map[string]map[string]bool{}
	for _, p := range listPackages(t) {
		from := folder(p.ImportPath)
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			if to := folder(imp); to != from {
				if edges[from] == nil {
					edges[from] = map[string]bool{}
				}
				edges[from][to] = true
			}
		}
	}
	const (
		unseen = iota
		onPath
		done
	)
	state := map[string]int{}
	var path []string
	var visit func(n string)
	visit = func(n string) {
		state[n] = onPath
		path = append(path, n)
		for to := range edges[n] {
			switch state[to] {
			case onPath:
				i := slices.Index(path, to)
				t.Errorf("folder cycle: %s -> %s", strings.Join(path[i:], " -> "), to)
			case unseen:
				visit(to)
			}
		}
		path = path[:len(path)-1]
		state[n] = done
	}
	for n := range edges {
		if state[n] == unseen {
			visit(n)
		}
	}
}

// The live stages import only earlier ones. The import order differs from the data flow in one
// place: clipper is a pure-Go leaf (the sampling grid, the frame and clip types) that decode
// consults to convert only the frames a clip will use. media (FFmpeg) imports nothing of ours;
// pipeline wires the stages. docs/ARCHITECTURE.md draws the same order.
func TestStagesImportOnlyEarlierStages(t *testing.T) {
	order := []string{"media", "ingest", "clipper", "decode", "infer", "events", "sink", "pipeline"}
	rank := map[string]int{}
	for i, s := range order {
		rank[s] = i
	}
	for _, p := range listPackages(t) {
		from := folder(p.ImportPath)
		rf, isStage := rank[from]
		if !isStage {
			continue
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			to := folder(imp)
			rt, toStage := rank[to]
			if from == "media" && to != "media" {
				t.Errorf("%s imports %s: media must import no other package of ours", p.ImportPath, imp)
			}
			if toStage && rt > rf {
				t.Errorf("%s imports the later stage %s", p.ImportPath, imp)
			}
		}
	}
}

// cgo stays in the FFmpeg leaf packages (media/) and in the one C kernel package of infer
// (infer/dwconv: the depthwise convolution and its ONNX Runtime custom operator); the ONNX
// Runtime adapter itself is a Go module (onnxruntime_go).
func TestCgoOnlyInMedia(t *testing.T) {
	const kernels = module + "/infer/dwconv"
	seen := false
	for _, p := range listPackages(t) {
		if p.ImportPath == kernels {
			seen = len(p.CgoFiles) > 0
			continue
		}
		if len(p.CgoFiles) > 0 && folder(p.ImportPath) != "media" {
			t.Errorf("%s has cgo files %v: FFmpeg calls belong in media/, C kernels in %s", p.ImportPath, p.CgoFiles, kernels)
		}
	}
	if !seen {
		t.Errorf("%s has no cgo files: if the kernel moved, move this exception with it", kernels)
	}
}

// cmd/actionstream is flags and calls: at most 1,600 lines of non-test Go.
func TestCommandIsThin(t *testing.T) {
	const limit = 1600
	for _, p := range listPackages(t) {
		if p.ImportPath != module+"/cmd/actionstream" {
			continue
		}
		lines := 0
		for _, f := range slices.Concat(p.GoFiles, p.CgoFiles) {
			fh, err := os.Open(filepath.Join(p.Dir, f))
			if err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(fh)
			for sc.Scan() {
				lines++
			}
			fh.Close()
		}
		t.Logf("cmd/actionstream: %d lines of non-test Go", lines)
		if lines > limit {
			t.Errorf("cmd/actionstream has %d lines of non-test Go (limit %d): domain logic belongs in its package", lines, limit)
		}
		return
	}
	t.Fatal("cmd/actionstream not found by go list")
}
