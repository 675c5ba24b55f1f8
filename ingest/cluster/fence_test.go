package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/actionstream/actionstream/internal/testkit/sinktest"
)

// The generation sequence: moving on keeps the epoch; a late node's smaller generation is
// refused while the live generation is refreshed; once nobody refreshes it (the group was
// deleted and started again at 1), the smaller generation opens a new epoch, whose tokens are
// larger than every old one.
func TestGenerationRestartOpensNewEpoch(t *testing.T) {
	srv := sinktest.StartRedis(t)
	c := srv.Client(t)
	ctx := context.Background()
	e := newEpochs(c, "t:", "g", 300)
	must := func(gen int32, wantEpoch int64, wantOK bool) {
		t.Helper()
		epoch, ok, err := e.register(ctx, gen)
		if err != nil {
			t.Fatal(err)
		}
		if ok != wantOK || ok && epoch != wantEpoch {
			t.Fatalf("register(%d) = %d, %v; want %d, %v", gen, epoch, ok, wantEpoch, wantOK)
		}
	}
	must(3, 0, true)
	must(5, 0, true)
	must(5, 0, true)  // another member of generation 5
	must(4, 0, false) // late: generation 5 is live
	time.Sleep(400 * time.Millisecond)
	must(1, 1, true) // nobody refreshed 5: the sequence restarted
	must(2, 1, true)
	if Token(1, 2) <= Token(0, 5) {
		t.Errorf("token of epoch 1 generation 2 (%d) is not above epoch 0 generation 5 (%d)", Token(1, 2), Token(0, 5))
	}
	if Token(0, 7) != 7 {
		t.Errorf("epoch 0 tokens are not the generation ids: %d", Token(0, 7))
	}
}
