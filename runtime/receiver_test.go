package runtime

import (
	"context"
	"errors"
	"io"
	"reflect"
	"sync"
	"testing"
	"time"
)

// ackQueue is an AckSource over fixed groups of records. It checks, at each
// ack, that the group is already stored in the engine.
type ackQueue struct {
	mu      sync.Mutex
	groups  [][]string
	next    int
	acked   []int
	stored  func([]string) bool
	badAcks []string
}

func (q *ackQueue) Fetch(ctx context.Context) ([]string, func() error, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.next == len(q.groups) {
		return nil, nil, io.EOF
	}
	i := q.next
	q.next++
	g := q.groups[i]
	return g, func() error {
		if !q.stored(g) {
			q.badAcks = append(q.badAcks, g[0])
		}
		q.mu.Lock()
		q.acked = append(q.acked, i)
		q.mu.Unlock()
		return nil
	}, nil
}

func (q *ackQueue) Close() error { return nil }

func TestReliableReceiverAcknowledgesOnlyStoredBlocks(t *testing.T) {
	h := newHarness(t, Config{})
	q := &ackQueue{groups: [][]string{{"a", "b"}, {"c"}, {"d", "e", "f"}}}
	s := ReceiverStream(h.c, testFn(func() Receiver[string] { return NewReliableReceiver[string](q) }))
	src := s.n.(*inputStream[string]).src.(*receiverSource[string])
	q.stored = func(g []string) bool {
		src.mu.Lock()
		defer src.mu.Unlock()
		for _, b := range src.blocks {
			if reflect.DeepEqual(b, g) {
				return true
			}
		}
		return false
	}
	col := collect_(s)
	h.start()
	// The source ends (io.EOF) once its groups are fetched; wait for that
	// before cutting the batch so that all three blocks are in it.
	deadline := time.Now().Add(10 * time.Second)
	for !func() bool { src.mu.Lock(); defer src.mu.Unlock(); return src.finished }() {
		if time.Now().After(deadline) {
			t.Fatal("receiver did not finish")
		}
		time.Sleep(time.Millisecond)
	}
	h.step(1)
	if err := h.c.AwaitTermination(); err != nil {
		t.Fatal(err)
	}
	if got := col.at(batchTime(1)); !reflect.DeepEqual(got, []string{"a", "b", "c", "d", "e", "f"}) {
		t.Fatalf("batch 1: %q", got)
	}
	if len(q.acked) != 3 || len(q.badAcks) != 0 {
		t.Fatalf("acked %v; acknowledged before stored: %v", q.acked, q.badAcks)
	}
}

// flakyReceiver fails on its first start and delivers on its second.
type flakyReceiver struct {
	starts *int
	mu     *sync.Mutex
}

func (r flakyReceiver) Start(store Store[string]) error {
	r.mu.Lock()
	*r.starts++
	n := *r.starts
	r.mu.Unlock()
	go func() {
		if n == 1 {
			store.Store("lost-with-failed-generation")
			store.ReportError(errors.New("connection reset"))
			store.Store("after-error-ignored")
			return
		}
		store.Store("x")
		store.Finish()
	}()
	return nil
}

func (flakyReceiver) Stop() error { return nil }

func TestReceiverIsRestartedAfterError(t *testing.T) {
	h := newHarness(t, Config{})
	var mu sync.Mutex
	starts := 0
	s := ReceiverStream(h.c, testFn(func() Receiver[string] { return flakyReceiver{starts: &starts, mu: &mu} }))
	src := s.n.(*inputStream[string]).src.(*receiverSource[string])
	src.restartDelay = time.Millisecond
	col := collect_(s)
	h.start()
	deadline := time.Now().Add(10 * time.Second)
	for !func() bool { src.mu.Lock(); defer src.mu.Unlock(); return src.finished }() {
		if time.Now().After(deadline) {
			t.Fatal("restarted receiver did not deliver")
		}
		time.Sleep(time.Millisecond)
	}
	h.step(1)
	if err := h.c.AwaitTermination(); err != nil {
		t.Fatal(err)
	}
	got := col.at(batchTime(1))
	if starts != 2 || !reflect.DeepEqual(got[len(got)-1:], []string{"x"}) {
		t.Fatalf("starts=%d, batch=%q", starts, got)
	}
	for _, r := range got {
		if r == "after-error-ignored" {
			t.Fatal("a record stored by a receiver after it reported an error was kept")
		}
	}
}
