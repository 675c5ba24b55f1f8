package infer

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// The digest hashed chunk by chunk while reading is the file's SHA-256, and the bytes are the
// file's, for sizes around and across the read chunk.
func TestReadModelFileDigest(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 1<<20 - 1, 1 << 20, 1<<20 + 1, 3<<20 + 12345} {
		want := make([]byte, n)
		for i := range want {
			want[i] = byte(r.Uint32())
		}
		p := filepath.Join(dir, "m.onnx")
		if err := os.WriteFile(p, want, 0o644); err != nil {
			t.Fatal(err)
		}
		b, digest, err := readModelFile(p)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(want)
		if string(b) != string(want) || digest != "sha256:"+hex.EncodeToString(sum[:]) {
			t.Fatalf("%d bytes: got %d bytes, digest %s", n, len(b), digest)
		}
	}
	_, _, err := readModelFile(filepath.Join(dir, "missing.onnx"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}
