package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/actionstream/actionstream/internal/testkit/testutil"
)

// TestServeRefusesExposedDashboard: `serve` on a non-loopback address with no web.token and
// no web.open exits 1 at once, and its stderr names the keys to set; the environment variable
// is enough to start (checked through the config only, so no port is bound here).
func TestServeRefusesExposedDashboard(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "serve.yaml")
	if err := os.WriteFile(cfgPath, []byte("model: {path: missing.onnx}\nhttp: {addr: \"0.0.0.0:0\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr testutil.SyncBuffer
	code := runMain(context.Background(), []string{"serve", "--config", cfgPath}, &stdout, &stderr)
	want := `actionstream serve: refusing to serve the dashboard and API without credentials: http.addr "0.0.0.0:0" is not a loopback address; ` +
		"set web.token (or ACTIONSTREAM_WEB_TOKEN), or web.open: true on a trusted network\n"
	if code != 1 || stderr.String() != want {
		t.Fatalf("exit %d, stderr %q\nwant exit 1, stderr %q", code, stderr.String(), want)
	}
	// With the token from the environment, serve gets past the check (and fails on the model).
	t.Setenv("ACTIONSTREAM_WEB_TOKEN", "from-env")
	stderr = testutil.SyncBuffer{}
	code = runMain(context.Background(), []string{"serve", "--config", cfgPath}, &stdout, &stderr)
	if code == 0 || strings.Contains(stderr.String(), "refusing") || !strings.Contains(stderr.String(), "missing.onnx") {
		t.Fatalf("with ACTIONSTREAM_WEB_TOKEN: exit %d, stderr %q", code, stderr.String())
	}
}
