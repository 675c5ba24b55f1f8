package infer

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/actionstream/actionstream/internal/testkit/testutil"
)

// Protobuf wire encoding of the ModelProto fields the reader uses (onnx/onnx.proto3: ModelProto
// ir_version = 1, graph = 7, metadata_props = 14; GraphProto input = 11, output = 12;
// ValueInfoProto name = 1, type = 2; TypeProto tensor_type = 1; Tensor elem_type = 1, shape = 2;
// TensorShapeProto dim = 1; Dimension dim_value = 1, dim_param = 2; StringStringEntryProto
// key = 1, value = 2), for seeds that are valid or one fault away from it.
func pbVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func pbInt(b []byte, num int, v uint64) []byte { return pbVarint(pbVarint(b, uint64(num)<<3), v) }

func pbBytes(b []byte, num int, p []byte) []byte {
	return append(pbVarint(pbVarint(b, uint64(num)<<3|2), uint64(len(p))), p...)
}

// pbValueInfo encodes a float32 tensor; a dim < 0 is symbolic ("N").
func pbValueInfo(name string, dims ...int64) []byte {
	var shape []byte
	for _, d := range dims {
		var dim []byte
		if d < 0 {
			dim = pbBytes(nil, 2, []byte("N"))
		} else {
			dim = pbInt(nil, 1, uint64(d))
		}
		shape = pbBytes(shape, 1, dim)
	}
	tensor := pbBytes(pbInt(nil, 1, onnxFloat), 2, shape)
	return pbBytes(pbBytes(nil, 1, []byte(name)), 2, pbBytes(nil, 1, tensor))
}

func pbModel(props map[string]string, in, out []byte) []byte {
	b := pbInt(nil, 1, 8)
	b = pbBytes(b, 7, pbBytes(pbBytes(nil, 11, in), 12, out))
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b = pbBytes(b, 14, pbBytes(pbBytes(nil, 1, []byte(k)), 2, []byte(props[k])))
	}
	return b
}

// seedProps is a valid metadata set for a [N,3,4,8,8] -> [N,2] model.
func seedProps() map[string]string {
	return map[string]string{
		KeySchemaVersion: "1", KeyName: "fuzz", KeyTask: TaskClassification, KeyLabels: `["a","b"]`,
		KeyFrames: "4", KeySamplingRate: "6", KeyCropSize: "8", KeyResizeShortSide: "9",
		KeyMean: "[0.45,0.45,0.45]", KeyStd: "[0.225,0.225,0.225]", KeyScore: ScoreSoftmax,
		KeyArchitecture: `{"name":"x3d"}`, KeyMACs: "100", KeyParams: "10",
	}
}

// FuzzReadMetadata feeds arbitrary bytes to the model file reader (ReadMetadata after the file
// is read): no panic, an error that wraps one of the package's sentinels, allocation bounded by
// the input's size, and a model it accepts declares sizes the server can allocate.
func FuzzReadMetadata(f *testing.F) {
	f.Add(pbModel(seedProps(), pbValueInfo(InputName, -1, 3, 4, 8, 8), pbValueInfo(OutputName, -1, 2)))
	huge := seedProps()
	huge[KeyFrames], huge[KeyCropSize], huge[KeyResizeShortSide] = "1000000000", "1000000000", "1000000000"
	f.Add(pbModel(huge, pbValueInfo(InputName, -1, 3, -1, -1, -1), pbValueInfo(OutputName, -1, 2)))
	f.Add(pbModel(seedProps(), pbValueInfo(InputName, 1<<40, 3, 4, 8, 8), pbValueInfo(OutputName, -1, 2)))
	// The committed models of the other tests, written by the onnx package itself.
	models, _ := filepath.Glob("testdata/models/*.onnx")
	for _, m := range models {
		if b, err := os.ReadFile(m); err == nil && len(b) < 8<<10 {
			f.Add(b)
		}
	}
	sentinels := []error{ErrNotONNX, ErrNoMetadata, ErrBadMetadata, ErrSchemaVersion, ErrBadInput, ErrBadOutput}
	f.Fuzz(func(t *testing.T, b []byte) {
		var mf *modelFile
		var err error
		alloc := testutil.AllocatedBytes(func() { mf, err = inspect("fuzz.onnx", b) })
		if limit := 256<<10 + 64*uint64(len(b)); alloc > limit {
			t.Fatalf("reading %d bytes allocated %d (limit %d)", len(b), alloc, limit)
		}
		if err != nil {
			for _, s := range sentinels {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("error wraps no sentinel: %v", err)
		}
		m := mf.meta
		if n := m.ClipLen(); n <= 0 || n > maxClipValues {
			t.Fatalf("accepted a clip of %d values: %+v", n, m)
		}
		if mf.fixedBatch < 0 || mf.fixedBatch > maxFixedBatch || mf.fixedBatch*int64(m.ClipLen()) > maxBatchValues {
			t.Fatalf("accepted a fixed batch of %d clips of %d values", mf.fixedBatch, m.ClipLen())
		}
		if len(m.Labels) == 0 || mf.classes != len(m.Labels) || m.Std[0] <= 0 || m.Std[1] <= 0 || m.Std[2] <= 0 {
			t.Fatalf("accepted metadata %+v (classes %d)", m, mf.classes)
		}
		if m.SchemaVersion != SchemaVersion {
			t.Fatalf("schema version %d", m.SchemaVersion)
		}
	})
}

// TestReadMetadataRejectsHugeSizes: sizes a server could not allocate are refused with the
// reason, before any clip buffer exists (regression seeds of FuzzReadMetadata).
func TestReadMetadataRejectsHugeSizes(t *testing.T) {
	huge := seedProps()
	huge[KeyFrames] = "1000000000"
	big := seedProps()
	big[KeyFrames], big[KeyCropSize], big[KeyResizeShortSide] = "1024", "4096", "4096"
	for _, tc := range []struct {
		name string
		b    []byte
		want error
		msg  string
	}{
		{"frames", pbModel(huge, pbValueInfo(InputName, -1, 3, -1, 8, 8), pbValueInfo(OutputName, -1, 2)), ErrBadMetadata, "actionstream.frames is 1000000000, want 1..1024"},
		{"clip", pbModel(big, pbValueInfo(InputName, -1, 3, -1, -1, -1), pbValueInfo(OutputName, -1, 2)), ErrBadMetadata, "over the limit of 67108864"},
		{"batch", pbModel(seedProps(), pbValueInfo(InputName, 1<<40, 3, 4, 8, 8), pbValueInfo(OutputName, -1, 2)), ErrBadInput, "fixed batch of 1099511627776 clips"},
	} {
		p := filepath.Join(t.TempDir(), tc.name+".onnx")
		if err := os.WriteFile(p, tc.b, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := ReadMetadata(p)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v, want %v naming the file and %q", tc.name, err, tc.want, tc.msg)
		}
	}
	if _, err := ReadMetadata(writeTemp(t, pbModel(seedProps(), pbValueInfo(InputName, 2, 3, 4, 8, 8), pbValueInfo(OutputName, -1, 2)))); err != nil {
		t.Fatalf("a fixed batch of 2 within the limits: %v", err)
	}
}

func writeTemp(t *testing.T, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "m.onnx")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
