package cluster

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCameraRecords(t *testing.T) {
	for _, c := range []struct {
		name, value string
		want        error
		text        string
	}{
		{"plain password", `{"id":"cam7","url":"rtsp://admin:hunter2@10.0.0.7/live"}`, ErrPlainSecret, "password_from"},
		{"bad id", `{"id":"cam 7","url":"rtsp://10.0.0.7/live"}`, ErrBadCamera, "id"},
		{"bad scheme", `{"id":"cam7","url":"http://10.0.0.7/live"}`, ErrBadCamera, "scheme"},
		{"unknown field", `{"id":"cam7","url":"a.mp4","password":"x"}`, ErrBadCamera, "unknown field"},
		{"bad secret ref", `{"id":"cam7","url":"rtsp://u@h/l","password_from":"vault:x"}`, ErrBadCamera, "env:NAME or file:PATH"},
		{"bad stall", `{"id":"cam7","url":"rtsp://h/l","stall_timeout":"5"}`, ErrBadCamera, "stall_timeout"},
		{"ok", `{"id":"cam7","url":"rtsp://admin@10.0.0.7/live","password_from":"env:CAM7_PASS","transport":"udp"}`, nil, ""},
	} {
		_, err := ParseCamera([]byte(c.value))
		if !errors.Is(err, c.want) || c.want != nil && !strings.Contains(err.Error(), c.text) {
			t.Errorf("%s: %v, want %v mentioning %q", c.name, err, c.want, c.text)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error shows the password: %v", c.name, err)
		}
	}
}

func TestCameraSecretsResolvedOnTheNode(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "cam8")
	if err := os.WriteFile(secret, []byte("p@ss/word\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(k string) (string, bool) { return "from-env", k == "CAM7_PASS" }
	sc, err := Camera{ID: "cam7", URL: "rtsp://admin@10.0.0.7/live", PasswordFrom: "env:CAM7_PASS"}.Resolve(env)
	if err != nil || sc.URL != "rtsp://admin:from-env@10.0.0.7/live" {
		t.Errorf("env secret: %q, %v", sc.URL, err)
	}
	sc, err = Camera{ID: "cam8", URL: "rtsp://admin@10.0.0.8/live", PasswordFrom: "file:" + secret, StallTimeout: "3s"}.Resolve(env)
	if err != nil || sc.URL != "rtsp://admin:p%40ss%2Fword@10.0.0.8/live" || sc.StallTimeout.D().Seconds() != 3 {
		t.Errorf("file secret: %q %v, %v", sc.URL, sc.StallTimeout, err)
	}
	_, err = Camera{ID: "cam9", URL: "rtsp://admin@10.0.0.9/live", PasswordFrom: "env:NOPE"}.Resolve(env)
	if !errors.Is(err, ErrSecret) || !strings.Contains(err.Error(), "NOPE is not set on this node") {
		t.Errorf("missing env secret: %v", err)
	}
	_, err = Camera{ID: "cam9", URL: "rtsp://admin@10.0.0.9/live", PasswordFrom: "file:" + filepath.Join(dir, "missing")}.Resolve(env)
	if !errors.Is(err, ErrSecret) {
		t.Errorf("missing file secret: %v", err)
	}
}
