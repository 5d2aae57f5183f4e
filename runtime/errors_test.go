package runtime

import (
	"errors"
	"strings"
	"testing"
)

func assertBatchError(t *testing.T, err error, stream string, at Time) *BatchError {
	t.Helper()
	var be *BatchError
	if !errors.As(err, &be) {
		t.Fatalf("want a BatchError naming stream %q, got %v", stream, err)
	}
	if be.Stream != stream || be.Time != at {
		t.Fatalf("error names stream %q at %s, want %q at %s: %v", be.Stream, be.Time, stream, at, err)
	}
	if !strings.Contains(err.Error(), stream) || !strings.Contains(err.Error(), at.String()) {
		t.Fatalf("message %q does not name the stream and the batch time", err)
	}
	return be
}

var panicOnBad = Func("test.panicOnBad", func(s string) string {
	if s == "bad" {
		panic("cannot parse " + s)
	}
	return s
})

var failOnBad = Func("test.failOnBad", func(s string) string {
	if s == "bad" {
		Fail(errors.New("not a number: " + s))
	}
	return s
})

func TestPanicInUserFunctionFailsBatchNamingStream(t *testing.T) {
	h := newHarness(t, Config{})
	q := NewQueue([]string{"ok"}, []string{"ok", "bad"}, []string{"ok"})
	q.Close()
	out := collect_(Map(Map(QueueStream(h.c, q), panicOnBad).Named("parse"), upper).Named("upper"))
	h.start()
	h.clock.Advance(3 * testInterval)
	err := h.c.AwaitTermination()
	be := assertBatchError(t, err, "parse", batchTime(2))
	var pe *PanicError
	if !errors.As(be, &pe) || !strings.Contains(err.Error(), "cannot parse") {
		t.Fatalf("want the panic value in the error, got %v", err)
	}
	if out.at(batchTime(3)) != nil {
		t.Fatal("a batch after the failed one was committed under the stop policy")
	}
	if out.at(batchTime(1)) == nil {
		t.Fatal("the batch before the failure was not committed")
	}
}

func TestFailMarksBadRecord(t *testing.T) {
	h := newHarness(t, Config{})
	q := NewQueue([]string{"bad"})
	q.Close()
	Map(QueueStream(h.c, q), failOnBad).Named("numbers").Print()
	h.start()
	h.clock.Advance(testInterval)
	err := h.c.AwaitTermination()
	assertBatchError(t, err, "numbers", batchTime(1))
	if !errors.Is(err, ErrBadRecord) {
		t.Fatalf("want ErrBadRecord, got %v", err)
	}
}

func TestRetryPolicyRecomputesBatchFromLineage(t *testing.T) {
	h := newHarness(t, Config{FailurePolicy: FailurePolicy{Mode: RetryBatch, MaxRetries: 3}})
	q := NewQueue([]Pair[string, int]{KV("a", 1)}, []Pair[string, int]{KV("a", 2)}, []Pair[string, int]{KV("a", 3)})
	q.Close()
	remaining := 2
	sink := testFn(func(b Batch[Pair[string, int]]) error {
		if b.Time == batchTime(2) && remaining > 0 {
			remaining--
			return errors.New("sink unavailable")
		}
		return nil
	})
	state := UpdateStateByKey(QueueStream(h.c, q), runningSum, 0)
	state.ForeachBatch(sink)
	col := collect_(state)
	h.start()
	h.step(3)
	if err := h.c.AwaitTermination(); err != nil {
		t.Fatal(err)
	}
	// The failed commit was retried; state was recomputed, not applied twice.
	for i, want := range []int{1, 3, 6} {
		if got := asMap(t, col.at(batchTime(i+1)))["a"]; got != want {
			t.Errorf("batch %d: a=%d, want %d", i+1, got, want)
		}
	}
	if m := h.c.Metrics(); m.Batches[1].Attempts != 3 {
		t.Errorf("batch 2 took %d attempts, want 3", m.Batches[1].Attempts)
	}
}

func TestRetryPolicyGivesUpAfterMaxRetries(t *testing.T) {
	h := newHarness(t, Config{FailurePolicy: FailurePolicy{Mode: RetryBatch, MaxRetries: 2}})
	q := NewQueue([]string{"bad"})
	q.Close()
	Map(QueueStream(h.c, q), panicOnBad).Named("parse").Print()
	h.start()
	h.clock.Advance(testInterval)
	assertBatchError(t, h.c.AwaitTermination(), "parse", batchTime(1))
}

func TestGraphWithoutOutputDoesNotStart(t *testing.T) {
	h := newHarness(t, Config{})
	Map(QueueStream(h.c, NewQueue[string]()), upper)
	if err := h.c.Start(t.Context()); !errors.Is(err, ErrNoOutput) {
		t.Fatalf("Start: got %v, want ErrNoOutput", err)
	}
}

func TestDuplicateStreamNamesAreRejected(t *testing.T) {
	h := newHarness(t, Config{})
	s := QueueStream(h.c, NewQueue[string]()).Named("lines")
	Map(s, upper).Named("lines").Print()
	if err := h.c.Start(t.Context()); err == nil || !strings.Contains(err.Error(), `"lines"`) {
		t.Fatalf("Start: got %v, want a duplicate-name error naming the stream", err)
	}
}
