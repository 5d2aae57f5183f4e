package runtime

import (
	"testing"
)

func TestMetricsPerBatch(t *testing.T) {
	h := newHarness(t, Config{})
	q := NewQueue([]string{"a", "b"}, []string{}, []string{"c"})
	q.Close()
	QueueStream(h.c, q).Named("lines").Count().Print()
	h.start()
	h.step(3)
	m := h.c.Metrics()
	if m.CompletedBatches != 3 || m.TotalRecords != 3 || m.LastCompleted != batchTime(3) {
		t.Fatalf("metrics %+v", m)
	}
	if src := h.c.Sources(); len(src) != 1 || src[0].Stream != "lines" || src[0].Kind != "queue" || src[0].LastBatchRecords != 1 || !src[0].Exhausted {
		t.Errorf("sources %+v", src)
	}
	for i, want := range []int64{2, 0, 1} {
		b := m.Batches[i]
		if b.Time != batchTime(i+1) || b.InputRecords != want || b.SourceRecords["lines"] != want {
			t.Errorf("batch %d: %+v", i+1, b)
		}
		if b.SchedulingDelay < 0 || b.ProcessingTime <= 0 || b.TotalDelay < b.ProcessingTime {
			t.Errorf("batch %d delays: scheduling %v processing %v total %v", i+1, b.SchedulingDelay, b.ProcessingTime, b.TotalDelay)
		}
	}
}

func TestMetricsRetentionIsBounded(t *testing.T) {
	h := newHarness(t, Config{MetricsRetained: 2})
	q := NewQueue([]int{1}, []int{2}, []int{3})
	q.Close()
	QueueStream(h.c, q).Print()
	h.start()
	h.step(3)
	if m := h.c.Metrics(); len(m.Batches) != 2 || m.Batches[0].Time != batchTime(2) || m.CompletedBatches != 3 {
		t.Fatalf("metrics %+v", m)
	}
}
