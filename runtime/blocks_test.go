package runtime

import (
	"testing"
	"time"
)

// Blocks live as long as a window, state or retry can need their batch,
// and no longer: twice the batches, the same number of blocks.
func TestForgottenBatchesDropTheirBlocks(t *testing.T) {
	blocksAfter := func(batches int) int {
		h := newHarness(t, Config{Parallelism: 2})
		q := NewQueue[Pair[string, int]]()
		for i := 0; i < batches; i++ {
			q.Push(KV("a", i), KV("b", 1))
		}
		q.Close()
		in := QueueStream(h.c, q)
		ReduceByKeyAndWindowInv(in, sumInts, subInts, Fn[func(Pair[string, int]) bool]{}, 3*time.Second, time.Second, 2).Print()
		UpdateStateByKey(in, runningSum, 2).Print()
		in.Window(2*time.Second, time.Second).Count().Print()
		runToEnd(t, h, batches)
		return h.c.blocks.len()
	}
	short, long := blocksAfter(10), blocksAfter(40)
	if short == 0 {
		t.Fatal("no blocks were kept at all")
	}
	if long > short {
		t.Fatalf("%d blocks after 40 batches, %d after 10: blocks of forgotten batches are kept", long, short)
	}
}
