package persondet

import (
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine the package starts must have ended once its tests are done.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
