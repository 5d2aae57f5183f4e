package runtime

import (
	"fmt"
	"math/rand"
	"reflect"
	"slices"
	"testing"
	"time"
)

// randomBatches returns n batches of random keyed records (some empty).
func randomBatches(r *rand.Rand, n int) [][]Pair[string, int] {
	batches := make([][]Pair[string, int], n)
	for i := range batches {
		for j := r.Intn(12); j > 0; j-- {
			batches[i] = append(batches[i], KV(fmt.Sprintf("k%d", r.Intn(6)), r.Intn(20)-5))
		}
	}
	return batches
}

// inWindow returns the records of batches (1-based times) in (t-length, t].
func inWindow[T any](batches [][]T, i int, length time.Duration) []T {
	n := int(length / testInterval)
	var out []T
	for j := max(1, i-n+1); j <= i; j++ {
		out = append(out, batches[j-1]...)
	}
	return out
}

func bruteReduceByKey(records []Pair[string, int]) map[string]int {
	m := map[string]int{}
	for _, kv := range records {
		m[kv.Key] += kv.Value
	}
	return m
}

func TestWindowEqualsBruteForce(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for _, shape := range []struct{ length, slide int }{{1, 1}, {3, 1}, {3, 2}, {4, 4}, {5, 3}} {
		length, slide := time.Duration(shape.length)*testInterval, time.Duration(shape.slide)*testInterval
		batches := randomBatches(r, 31)
		got := runOn(t, Config{}, batches, func(s Stream[Pair[string, int]]) Stream[Pair[string, int]] { return s.Window(length, slide) })
		for i := 1; i <= len(batches); i++ {
			want := inWindow(batches, i, length)
			if i%shape.slide != 0 {
				want = nil // no window ends at this batch
			}
			if !reflect.DeepEqual(got[i-1], want) && len(want)+len(got[i-1]) > 0 {
				t.Fatalf("window(%v, %v) at batch %d: got %v, want %v", length, slide, i, got[i-1], want)
			}
		}
	}
}

var subInts = Subtract[int]()

func TestReduceByKeyAndWindowWithInverseEqualsWithout(t *testing.T) {
	for seed := int64(1); seed <= 5; seed++ {
		r := rand.New(rand.NewSource(seed))
		length, slide := time.Duration(2+r.Intn(5))*testInterval, time.Duration(1+r.Intn(2))*testInterval
		batches := randomBatches(r, 33)
		h := newHarness(t, Config{})
		q := NewQueue(batches...)
		q.Close()
		in := QueueStream(h.c, q)
		plain := collect_(ReduceByKeyAndWindow(in, sumInts, length, slide, 3))
		incremental := collect_(ReduceByKeyAndWindowInv(in, sumInts, subInts, Fn[func(Pair[string, int]) bool]{}, length, slide, 3))
		h.start()
		h.step(len(batches))
		for i := 1; i <= len(batches); i++ {
			if i%int(slide/testInterval) != 0 {
				continue
			}
			at := batchTime(i)
			want := bruteReduceByKey(inWindow(batches, i, length))
			p, inc := asMap(t, plain.at(at)), asMap(t, incremental.at(at))
			// Without a keep function the incremental window keeps keys whose
			// values left the window; they reduce to the inverse's identity.
			for k, v := range inc {
				if _, ok := want[k]; !ok && v == 0 {
					delete(inc, k)
				}
			}
			if !reflect.DeepEqual(p, want) && len(p)+len(want) > 0 {
				t.Fatalf("seed %d batch %d: without inverse %v, brute force %v", seed, i, p, want)
			}
			if !reflect.DeepEqual(inc, want) && len(inc)+len(want) > 0 {
				t.Fatalf("seed %d batch %d (window %v slide %v): with inverse %v, brute force %v", seed, i, length, slide, inc, want)
			}
		}
	}
}

func TestCountByValueAndWindowDropsExpiredKeys(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	var batches [][]string
	for i := 0; i < 32; i++ {
		var b []string
		for j := r.Intn(6); j > 0; j-- {
			b = append(b, string(rune('a'+r.Intn(4))))
		}
		batches = append(batches, b)
	}
	length, slide := 4*testInterval, 2*testInterval
	got := runOn(t, Config{}, batches, func(s Stream[string]) Stream[Pair[string, int64]] {
		return CountByValueAndWindow(s, length, slide, 2)
	})
	for i := 2; i <= len(batches); i += 2 {
		want := map[string]int64{}
		for _, w := range inWindow(batches, i, length) {
			want[w]++
		}
		if m := asMap(t, got[i-1]); !reflect.DeepEqual(m, want) && len(m)+len(want) > 0 {
			t.Fatalf("batch %d: got %v, want %v (keys with count 0 must be gone)", i, m, want)
		}
	}
}

func TestCountAndReduceByWindow(t *testing.T) {
	batches := [][]int{{1, 2}, {3}, {}, {4, 5, 6}, {}}
	h := newHarness(t, Config{})
	q := NewQueue(batches...)
	q.Close()
	in := QueueStream(h.c, q)
	counts := collect_(in.CountByWindow(3*testInterval, testInterval))
	sums := collect_(in.ReduceByWindow(sumInts, 2*testInterval, testInterval))
	h.start()
	h.step(len(batches))
	wantCounts := []int64{2, 3, 3, 4, 3}
	wantSums := []int{3, 6, 3, 15, 15}
	for i := range batches {
		if got := counts.at(batchTime(i + 1)); !reflect.DeepEqual(got, []int64{wantCounts[i]}) {
			t.Errorf("countByWindow at batch %d: %v, want %d", i+1, got, wantCounts[i])
		}
		if got := sums.at(batchTime(i + 1)); !reflect.DeepEqual(got, []int{wantSums[i]}) {
			t.Errorf("reduceByWindow at batch %d: %v, want %d", i+1, got, wantSums[i])
		}
	}
}

func TestWindowNotMultipleOfBatchIntervalIsABuildError(t *testing.T) {
	for _, c := range []struct{ length, slide time.Duration }{
		{1500 * time.Millisecond, time.Second},
		{3 * time.Second, 500 * time.Millisecond},
		{0, time.Second},
	} {
		h := newHarness(t, Config{})
		QueueStream(h.c, NewQueue[string]()).Named("lines").Window(c.length, c.slide).Named("recent").Print()
		err := h.c.Start(t.Context())
		if err == nil || !containsAll(err.Error(), "multiple of the batch interval", `stream "recent"`) {
			t.Errorf("window(%v, %v): Start returned %v", c.length, c.slide, err)
		}
	}
	// A window of a window is checked against its parent's slide.
	h := newHarness(t, Config{})
	QueueStream(h.c, NewQueue[string]()).Window(4*time.Second, 2*time.Second).Window(3*time.Second, 3*time.Second).Print()
	if err := h.c.Start(t.Context()); err == nil {
		t.Error("a 3s window over a stream sliding by 2s was accepted")
	}
}

// Windows keep reading their parent's batches for as long as the window
// needs them, and no longer.
func TestWindowMemoryIsBounded(t *testing.T) {
	h := newHarness(t, Config{})
	q := NewQueue[int]()
	for i := 0; i < 20; i++ {
		q.Push(i)
	}
	q.Close()
	src := QueueStream(h.c, q)
	src.Window(3*testInterval, testInterval).Count().Print()
	h.start()
	h.step(20)
	in := src.n.(*inputStream[int])
	in.memo.mu.Lock()
	kept := slices.Sorted(func(yield func(Time) bool) {
		for t := range in.memo.batches {
			if !yield(t) {
				return
			}
		}
	})
	in.memo.mu.Unlock()
	if len(kept) > 4 {
		t.Fatalf("the source still holds %d batches after 20 (%v); a 3-batch window needs at most 4", len(kept), kept)
	}
}
