package dwconv

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The C API headers the op is compiled against are the pinned onnxruntime_go module's, byte
// for byte (`go generate ./infer/dwconv` copies them again after an upgrade).
func TestORTHeadersMatchModule(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/yalue/onnxruntime_go").Output()
	if err != nil {
		t.Fatalf("go list -m github.com/yalue/onnxruntime_go: %v", err)
	}
	dir := strings.TrimSpace(string(out))
	for _, h := range []string{"onnxruntime_c_api.h", "onnxruntime_ep_c_api.h"} {
		want, err := os.ReadFile(filepath.Join(dir, h))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join("ortapi", h))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("ortapi/%s differs from %s's: run go generate ./infer/dwconv", h, dir)
		}
	}
}
