// Package importer converts public X3D checkpoints (the key schemes of PyTorchVideo's
// create_x3d, SlowFast's X3D and MMAction2's X3D backbone and head) into models of
// our contract: the architecture comes from training/x3d (a preset or factors), the
// weights from the checkpoint, mapped key by key with every shape checked, and the
// export from training/python with the complete metadata. Checkpoints are read with
// a weights-only unpickler unless the caller trusts the file (TrustCheckpoint).
package importer

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/actionstream/actionstream/training/python"
	"github.com/actionstream/actionstream/training/x3d"
)

// Checkpoint key schemes.
const (
	SchemePyTorchVideo = "pytorchvideo"
	SchemeSlowFast     = "slowfast"
	SchemeMMAction2    = "mmaction2"
)

// Schemes lists the known key schemes.
func Schemes() []string { return []string{SchemePyTorchVideo, SchemeSlowFast, SchemeMMAction2} }

// Options describe one import.
type Options struct {
	Checkpoint string // .pyth / .pt / .pth file
	Scheme     string // "" = detect from the keys
	// TrustCheckpoint unpickles the file without restriction. A pickle can run code
	// when loaded, so by default only tensors, plain containers and numpy arrays are
	// read and anything else is refused.
	TrustCheckpoint bool
	Arch            x3d.Arch // the network the checkpoint holds (its NumClasses must match Labels)
	Labels          []string // class names in logit order (e.g. Kinetics-400's)
	Out             string   // ONNX file to write
	Name            string   // model name; "" = Arch.Name
	// TrainedOn is the metadata text; "" = "imported <scheme> checkpoint <file>".
	TrainedOn       string
	ResizeShortSide int // 0 = 8/7 of the crop
	Mean, Std       [3]float32
	FP16            bool // export float16 weights/activations (python.ExportOptions.FP16)
}

// Inspection is what a checkpoint's keys and shapes say.
type Inspection struct {
	Scheme     string   `json:"scheme"`
	Blocks     []int    `json:"blocks"`      // blocks per stage
	ShortcutBN [][2]int `json:"shortcut_bn"` // (stage, block) with a BN after the projection shortcut
	NumClasses int      `json:"num_classes"`
	Tensors    int      `json:"tensors"`
}

// Result reports an import.
type Result struct {
	Inspection
	Model  string              `json:"model"`
	Arch   x3d.Arch            `json:"-"`
	Export python.ExportResult `json:"export"`
}

// Inspect reads a checkpoint's layout.
func Inspect(ctx context.Context, r *python.Runner, checkpoint, scheme string, trust bool) (Inspection, error) {
	args := []string{"inspect-checkpoint", "--checkpoint", checkpoint}
	if scheme != "" {
		args = append(args, "--scheme", scheme)
	}
	if trust {
		args = append(args, "--trust-checkpoint")
	}
	raw, err := r.Run(ctx, args, nil)
	if err != nil {
		return Inspection{}, fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	var in Inspection
	if err := json.Unmarshal(raw, &in); err != nil {
		return Inspection{}, fmt.Errorf("%w: inspect result: %w", python.ErrProtocol, err)
	}
	return in, nil
}

// Fit adapts the architecture to what the checkpoint says where both are valid X3D
// readings (which projection shortcuts carry a BN: SlowFast puts one on res2's too),
// and refuses a checkpoint of another depth or class count.
func Fit(a x3d.Arch, in Inspection) (x3d.Arch, error) {
	if in.NumClasses != a.NumClasses {
		return a, fmt.Errorf("%w: checkpoint has %d classes, the architecture %d (check the label file)",
			ErrMismatch, in.NumClasses, a.NumClasses)
	}
	var depths []int
	for _, s := range a.Stages {
		depths = append(depths, len(s.Blocks))
	}
	if !slices.Equal(depths, in.Blocks) {
		return a, fmt.Errorf("%w: checkpoint has %v blocks per stage, %s has %v (choose the matching preset or --depth)",
			ErrMismatch, in.Blocks, a.Name, depths)
	}
	stages := make([]x3d.Stage, len(a.Stages))
	for i, s := range a.Stages {
		stages[i] = x3d.Stage{Name: s.Name, Blocks: slices.Clone(s.Blocks)}
	}
	for _, sb := range in.ShortcutBN {
		s, b := sb[0], sb[1]
		if s >= len(stages) || b >= len(stages[s].Blocks) || stages[s].Blocks[b].Shortcut == x3d.ShortcutIdentity {
			return a, fmt.Errorf("%w: shortcut BN at stage %d block %d, where %s has no projection", ErrMismatch, s, b, a.Name)
		}
		stages[s].Blocks[b].Shortcut = x3d.ShortcutConvBN
	}
	for s := range stages {
		for b := range stages[s].Blocks {
			if stages[s].Blocks[b].Shortcut == x3d.ShortcutConvBN && !slices.Contains(in.ShortcutBN, [2]int{s, b}) {
				stages[s].Blocks[b].Shortcut = x3d.ShortcutConv
			}
		}
	}
	a.Stages = stages
	if err := a.Validate(); err != nil {
		return a, fmt.Errorf("%w: %w", ErrMismatch, err)
	}
	return a, nil
}

// Import converts the checkpoint and exports the ONNX model.
func Import(ctx context.Context, r *python.Runner, o Options) (Result, error) {
	if o.Checkpoint == "" || o.Out == "" {
		return Result{}, fmt.Errorf("%w: checkpoint and out are required", ErrOptions)
	}
	if o.Scheme != "" && !slices.Contains(Schemes(), o.Scheme) {
		return Result{}, fmt.Errorf("%w: scheme %q (want one of %s)", ErrOptions, o.Scheme, strings.Join(Schemes(), ", "))
	}
	if o.Labels != nil && len(o.Labels) != o.Arch.NumClasses {
		return Result{}, fmt.Errorf("%w: %d labels for %d classes", ErrOptions, len(o.Labels), o.Arch.NumClasses)
	}
	ck, err := filepath.Abs(o.Checkpoint)
	if err != nil {
		return Result{}, fmt.Errorf("import: %w", err)
	}
	in, err := Inspect(ctx, r, ck, o.Scheme, o.TrustCheckpoint)
	if err != nil {
		return Result{}, err
	}
	a, err := Fit(o.Arch, in)
	if err != nil {
		return Result{}, err
	}
	work, err := os.MkdirTemp("", "actionstream-import-")
	if err != nil {
		return Result{}, fmt.Errorf("import: %w", err)
	}
	defer os.RemoveAll(work)
	spec, err := a.JSON()
	if err != nil {
		return Result{}, fmt.Errorf("import: %w", err)
	}
	specPath := filepath.Join(work, "arch.json")
	if err := os.WriteFile(specPath, spec, 0o644); err != nil {
		return Result{}, fmt.Errorf("import: %w", err)
	}
	ours := filepath.Join(work, "weights.pt")
	args := []string{"import", "--spec", specPath, "--checkpoint", ck, "--scheme", in.Scheme, "--out", ours}
	if o.TrustCheckpoint {
		args = append(args, "--trust-checkpoint")
	}
	if _, err := r.Run(ctx, args, nil); err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrMismatch, err)
	}
	trained := o.TrainedOn
	if trained == "" {
		trained = fmt.Sprintf("imported %s checkpoint %s", in.Scheme, filepath.Base(o.Checkpoint))
	}
	ex, err := r.Export(ctx, python.ExportOptions{Arch: a, Out: o.Out, Labels: o.Labels, Name: o.Name,
		Checkpoint: ours, TrainedOn: trained, ResizeShortSide: o.ResizeShortSide, Mean: o.Mean, Std: o.Std, FP16: o.FP16})
	if err != nil {
		return Result{}, err
	}
	return Result{Inspection: in, Model: ex.Path, Arch: a, Export: ex}, nil
}
