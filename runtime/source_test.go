package runtime

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
)

// offsetLog is a partitioned, replayable log, like a Kafka topic.
type offsetLog struct {
	mu         sync.Mutex
	partitions [][]string
}

func (l *offsetLog) append(p int, recs ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partitions[p] = append(l.partitions[p], recs...)
}

// directSource follows the direct approach: no receiver; each batch is an
// offset range per log partition, read by the tasks themselves.
type directSource struct {
	log  *offsetLog
	next []int
}

type offsetRanges struct {
	log      *offsetLog
	from, to []int
}

func (s *directSource) Open(context.Context) error {
	s.next = make([]int, len(s.log.partitions))
	return nil
}
func (s *directSource) Close() error    { return nil }
func (s *directSource) Exhausted() bool { return false }

func (s *directSource) Plan(context.Context, Time) (Input[string], error) {
	s.log.mu.Lock()
	defer s.log.mu.Unlock()
	r := offsetRanges{log: s.log, from: append([]int(nil), s.next...), to: make([]int, len(s.next))}
	for p := range s.next {
		r.to[p] = len(s.log.partitions[p])
		s.next[p] = r.to[p]
	}
	return r, nil
}

func (r offsetRanges) Partitions() int { return len(r.from) }

func (r offsetRanges) Read(_ context.Context, p int, yield func(string) bool) error {
	r.log.mu.Lock()
	recs := r.log.partitions[p][r.from[p]:r.to[p]]
	r.log.mu.Unlock()
	for _, rec := range recs {
		if !yield(rec) {
			break
		}
	}
	return nil
}

func (r offsetRanges) String() string { return fmt.Sprintf("%v-%v", r.from, r.to) }

func TestOffsetBasedSourceWithoutReceiver(t *testing.T) {
	log := &offsetLog{partitions: make([][]string, 2)}
	h := newHarness(t, Config{})
	src := &directSource{log: log}
	var parts [][]string
	s := NewInputStream[string](h.c, src)
	col := collect_(s)
	s.ForeachBatch(testFn(func(b Batch[string]) error {
		if b.Time == batchTime(1) {
			parts = b.Partitions
		}
		return nil
	}))
	h.start()
	log.append(0, "a", "b")
	log.append(1, "c")
	h.step(1)
	log.append(1, "d")
	h.step(1)
	if !reflect.DeepEqual(parts, [][]string{{"a", "b"}, {"c"}}) {
		t.Fatalf("batch 1 partitions %q: one per log partition", parts)
	}
	if got := col.at(batchTime(2)); !reflect.DeepEqual(got, []string{"d"}) {
		t.Fatalf("batch 2: %q", got)
	}
	// The planned ranges replay: reading them again gives the same records.
	r := offsetRanges{log: log, from: []int{0, 0}, to: []int{2, 1}}
	for p := 0; p < 2; p++ {
		var first, again []string
		_ = r.Read(context.Background(), p, func(s string) bool { first = append(first, s); return true })
		_ = r.Read(context.Background(), p, func(s string) bool { again = append(again, s); return true })
		if !reflect.DeepEqual(first, again) {
			t.Fatalf("partition %d replays differently", p)
		}
	}
}

func TestGracefulStopCommitsCutBatches(t *testing.T) {
	h := newHarness(t, Config{})
	q := NewQueue([]int{1}, []int{2}) // never closed: an unbounded source
	col := collect_(QueueStream(h.c, q))
	h.start()
	h.step(2)
	if err := h.c.Stop(true); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	if err := h.c.AwaitTermination(); err != nil {
		t.Fatalf("AwaitTermination after Stop: %v", err)
	}
	if !reflect.DeepEqual(col.times, []Time{batchTime(1), batchTime(2)}) {
		t.Fatalf("committed %v", col.times)
	}
}
