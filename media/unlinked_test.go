package media

import (
	"os"
	"strings"
	"testing"
)

// The process that links media (this test binary, like actionstream) must not load
// libavdevice or libavfilter: unlinked.c stands in for the symbols go-astiav's stubs name.
func TestDeviceAndFilterLibrariesStayUnloaded(t *testing.T) {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatalf("read /proc/self/maps: %v", err)
	}
	if !strings.Contains(string(maps), "libavcodec.so") {
		t.Fatalf("libavcodec is not mapped: this check reads the wrong thing")
	}
	for _, lib := range []string{"libavdevice.so", "libavfilter.so"} {
		if strings.Contains(string(maps), lib) {
			t.Errorf("%s is loaded: a new go-astiav call of it needs a stub in unlinked.c, or a real use needs the stub removed", lib)
		}
	}
}
