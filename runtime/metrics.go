package runtime

import (
	"sync"
	"time"
)

// BatchInfo describes one committed batch, as Spark's streaming UI does.
type BatchInfo struct {
	Time Time `json:"batchTime"`
	// InputRecords is the number of records all sources contributed.
	InputRecords  int64            `json:"inputRecords"`
	SourceRecords map[string]int64 `json:"sourceRecords,omitempty"`
	SubmittedAt   time.Time        `json:"submittedAt"`
	StartedAt     time.Time        `json:"startedAt"`
	CompletedAt   time.Time        `json:"completedAt"`
	// SchedulingDelay is how long the batch waited for earlier batches.
	SchedulingDelay time.Duration `json:"schedulingDelay"`
	// ProcessingTime is how long computing and committing took.
	ProcessingTime time.Duration `json:"processingTime"`
	// TotalDelay is scheduling delay plus processing time: how far the
	// outputs lag behind the batch's end.
	TotalDelay time.Duration `json:"totalDelay"`
	// Attempts is 1 unless the batch was retried.
	Attempts int `json:"attempts"`
}

// Metrics is a snapshot of a context's progress.
type Metrics struct {
	// Batches are the most recent committed batches, oldest first.
	Batches []BatchInfo `json:"batches"`
	// LastCompleted is the newest committed batch time, 0 before the first.
	LastCompleted Time `json:"lastCompletedBatch"`
	// PendingBatches are cut but not yet committed.
	PendingBatches int `json:"pendingBatches"`
	// CompletedBatches and TotalRecords count since Start.
	CompletedBatches int64 `json:"completedBatches"`
	TotalRecords     int64 `json:"totalRecords"`
}

// Listener is told about each committed batch, in batch order. It runs on
// the commit path, so it must be quick.
type Listener interface {
	OnBatchCompleted(BatchInfo)
}

// ListenerFunc adapts a function to Listener.
type ListenerFunc func(BatchInfo)

// OnBatchCompleted implements Listener.
func (f ListenerFunc) OnBatchCompleted(b BatchInfo) { f(b) }

type metricsStore struct {
	mu        sync.Mutex
	keep      int
	m         Metrics
	listeners []Listener
	// replayFloor is set from a recovery to the first commit after it.
	replayFloor *Time
}

func newMetricsStore(keep int) *metricsStore { return &metricsStore{keep: keep} }

func (s *metricsStore) record(b BatchInfo, pending int) {
	s.mu.Lock()
	s.m.Batches = append(s.m.Batches, b)
	if len(s.m.Batches) > s.keep {
		s.m.Batches = append(s.m.Batches[:0:0], s.m.Batches[len(s.m.Batches)-s.keep:]...)
	}
	s.m.LastCompleted = b.Time
	s.replayFloor = nil
	s.m.PendingBatches = pending
	s.m.CompletedBatches++
	s.m.TotalRecords += b.InputRecords
	ls := s.listeners
	s.mu.Unlock()
	for _, l := range ls {
		l.OnBatchCompleted(b)
	}
}

func (s *metricsStore) lastCommitted() Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m.LastCompleted
}

// restoreCommitted sets the newest committed batch of a recovered run,
// whose batches after floor (its data checkpoint) are recomputed before the
// next commit.
func (s *metricsStore) restoreCommitted(t, floor Time) {
	s.mu.Lock()
	s.m.LastCompleted = t
	s.replayFloor = &floor
	s.mu.Unlock()
}

// forgettable is the newest batch whose predecessors workers may forget:
// the newest committed one, except while a recovered run recomputes the
// batches after its data checkpoint.
func (s *metricsStore) forgettable() Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.replayFloor != nil {
		return min(s.m.LastCompleted, *s.replayFloor)
	}
	return s.m.LastCompleted
}

// Metrics returns a snapshot of the context's batch metrics.
func (c *Context) Metrics() Metrics {
	s := c.metrics
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.m
	m.Batches = append([]BatchInfo(nil), s.m.Batches...)
	return m
}

// Lag is how far the newest committed batch is behind the batch clock:
// about one batch interval when the job keeps up, growing while it falls
// behind or stalls. It is zero before the first batch commits.
func (c *Context) Lag() time.Duration {
	last := c.metrics.lastCommitted()
	if last == 0 {
		return 0
	}
	return max(0, c.cfg.Clock.Now().Sub(last.Std()))
}

// AddListener registers l for every batch committed from now on.
func (c *Context) AddListener(l Listener) {
	s := c.metrics
	s.mu.Lock()
	s.listeners = append(s.listeners, l)
	s.mu.Unlock()
}

// SourceStatus describes one input stream.
type SourceStatus struct {
	Stream string `json:"stream"`
	// Kind is the source's operator: socket, receiver, textFiles, generator, ...
	Kind string `json:"kind"`
	// Exhausted is set when a bounded source has planned its last batch.
	Exhausted bool `json:"exhausted"`
	// LastBatchRecords is what the source contributed to the newest
	// committed batch.
	LastBatchRecords int64 `json:"lastBatchRecords"`
}

// Sources describes the context's input streams.
func (c *Context) Sources() []SourceStatus {
	m := c.Metrics()
	var last map[string]int64
	if n := len(m.Batches); n > 0 {
		last = m.Batches[n-1].SourceRecords
	}
	out := make([]SourceStatus, 0, len(c.inputs))
	for _, in := range c.inputs {
		n := in.info()
		out = append(out, SourceStatus{Stream: n.name, Kind: n.spec.Op, Exhausted: in.plannedLast(), LastBatchRecords: last[n.name]})
	}
	return out
}
