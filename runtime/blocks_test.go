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

// A block with a backup copy survives the loss of its primary's process:
// the backup becomes the primary. One without is reported lost, and losing
// the backup's process leaves the primary alone.
func TestLostBlocksFallBackToTheirBackup(t *testing.T) {
	s := newBlockStore(nil)
	k := StageKey{Node: 1, Time: 100}
	s.setLocation(k, 0, "a")
	s.setBackup(k, 0, "b")
	s.setLocation(k, 1, "a")
	s.setLocation(k, 2, "c")
	s.setBackup(k, 2, "b")

	lost := s.dropLocationsAt("a")
	if len(lost) != 1 || lost[0] != (taskLocation{k, 1}) {
		t.Fatalf("lost %v, want task 1 alone", lost)
	}
	if addr, ok := s.location(k, 0); !ok || addr != "b" {
		t.Fatalf("task 0 is at %q, want its backup b", addr)
	}
	if lost := s.dropLocationsAt("b"); len(lost) != 1 || lost[0] != (taskLocation{k, 0}) {
		t.Fatalf("losing b lost %v, want task 0: its backup was promoted and had no copy left", lost)
	}
	if addr, ok := s.location(k, 2); !ok || addr != "c" {
		t.Fatalf("task 2 is at %q, want c: losing its backup must not move it", addr)
	}
	if lost := s.dropLocationsAt("c"); len(lost) != 1 {
		t.Fatalf("losing c lost %v: task 2's backup on b was already gone", lost)
	}
}
