package hostinfo

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestHostInfo(t *testing.T) {
	la := strings.Fields(LoadAverage())
	if len(la) != 3 {
		t.Fatalf("load average %q, want three numbers", LoadAverage())
	}
	for _, f := range la {
		if _, err := strconv.ParseFloat(f, 64); err != nil {
			t.Errorf("load average field %q: %v", f, err)
		}
	}
	if CPUModel() == "" {
		t.Error("no CPU model")
	}
	before := ProcessCPU()
	for end := time.Now().Add(30 * time.Millisecond); time.Now().Before(end); {
	}
	if d := ProcessCPU() - before; d < 10*time.Millisecond {
		t.Errorf("30 ms of spinning counted as %v of CPU", d)
	}
}
