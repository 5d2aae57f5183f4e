package runtime

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/tributary-dev/tributary/runtime/checkpoint"
)

// Source feeds one input stream. It is the contract every input implements,
// whether it pulls replayable ranges (files, offsets) or is pushed data by a
// Receiver.
//
// Lifecycle: Open once before the first batch; then Plan once per batch, in
// batch order, on the batch clock; then Close once, after the last batch or
// when the context stops. Plan, Exhausted and Close are never called
// concurrently with each other.
type Source[T any] interface {
	// Open prepares the source. An error stops Start and is returned by it.
	Open(ctx context.Context) error
	// Plan decides which data belongs to the batch at t and returns it as an
	// Input. It runs on the batch clock and must not block for long: a
	// receiver-based source hands over what has been stored; an offset-based
	// source (Kafka's direct approach) returns the offset ranges to read.
	// An error fails the batch, and the job stops: planning has moved the
	// source forward, so the batch cannot be re-planned.
	Plan(ctx context.Context, t Time) (Input[T], error)
	// Exhausted reports that a bounded source has planned all its data: the
	// batch it planned last was its final one. When every source of a
	// context is exhausted, the context commits that batch and stops by
	// itself. Unbounded sources always return false.
	Exhausted() bool
	// Close releases the source. Receivers stop receiving.
	Close() error
}

// ReplayableSource is a Source whose plans can be read again by another
// driver. A checkpointed context saves, in every metadata checkpoint, the
// source's position and the encoded plan of each batch it may still have to
// compute; a driver that recovers restores both and reads exactly the same
// input for every batch it recomputes. Sources that are not replayable
// (receivers without a write-ahead log) lose what a dead driver had planned
// but not committed.
//
// Recovery calls Restore once, after Open and before the first Plan.
// Position and EncodeInput are called on the batch clock, right after Plan.
type ReplayableSource[T any] interface {
	Source[T]
	// Position encodes where the source stands after its last Plan: what
	// its next Plan continues from.
	Position() ([]byte, error)
	// Restore moves the source to a position that Position returned.
	Restore(position []byte) error
	// EncodeInput encodes an Input that this source's Plan returned.
	EncodeInput(Input[T]) ([]byte, error)
	// DecodeInput rebuilds an Input from what EncodeInput returned.
	DecodeInput(data []byte) (Input[T], error)
}

// Input is what one source contributes to one batch. It must be replayable:
// Read returns the same records of a partition, in the same order, every time
// it is called, so that lost partitions can be recomputed from lineage.
type Input[T any] interface {
	// Partitions is the number of partitions of the batch's input.
	Partitions() int
	// Read yields the records of partition p until yield returns false. It
	// runs in a task, concurrently with other partitions' reads. An error
	// fails the batch, naming the input stream.
	Read(ctx context.Context, p int, yield func(T) bool) error
}

// MemoryInput is an Input whose partitions are already in memory, such as
// stored receiver blocks or queued datasets, so that the engine reads them in
// place instead of copying them.
type MemoryInput[T any] interface {
	Input[T]
	Partition(p int) []T
}

// memoryInput is a MemoryInput over a fixed set of partitions.
type memoryInput[T any] [][]T

func (m memoryInput[T]) Partitions() int     { return len(m) }
func (m memoryInput[T]) Partition(p int) []T { return m[p] }
func (m memoryInput[T]) Read(_ context.Context, p int, yield func(T) bool) error {
	for _, r := range m[p] {
		if !yield(r) {
			return nil
		}
	}
	return nil
}

// inputStream is the stream of a Source: its batch at t is what the source
// planned for t.
type inputStream[T any] struct {
	nodeInfo
	memo[T]
	src Source[T]

	mu      sync.Mutex
	planned map[Time]Input[T]
	// ended records Exhausted after each plan, for readers on other
	// goroutines (status): sources are only asked on the batch clock.
	ended bool
	// With checkpoints on, a replayable source's position after its last
	// plan, and each remembered plan encoded, for the metadata checkpoint.
	position []byte
	encoded  map[Time][]byte
}

func newInputStream[T any](src Source[T]) *inputStream[T] {
	return &inputStream[T]{src: src, planned: map[Time]Input[T]{}}
}

// NewInputStream returns the stream of a custom Source. The graph can only be
// rebuilt from a description if the source is created by a registered
// function: see SourceStream.
func NewInputStream[T any](c *Context, src Source[T]) Stream[T] {
	return addStream(c, NodeSpec{Op: "source"}, nil, nil, map[string]any{"source": src}, func(b *builder) (streamNode[T], error) {
		src, ok := b.values["source"].(Source[T])
		if !ok {
			return nil, fmt.Errorf("a custom source object cannot be rebuilt from a description; create it with SourceStream and a registered function")
		}
		return newInputStream(src), nil
	})
}

// SourceStream returns the stream of the Source that the registered function
// newSource creates when the context starts.
func SourceStream[T any](c *Context, newSource Fn[func() (Source[T], error)]) Stream[T] {
	return addStream(c, NodeSpec{Op: "customSource"}, nil, fns("new", newSource), nil, func(b *builder) (streamNode[T], error) {
		fn, err := builderFn[func() (Source[T], error)](b, "new")
		if err != nil {
			return nil, err
		}
		src, err := fn.f()
		if err != nil {
			return nil, fmt.Errorf("creating source: %w", err)
		}
		return newInputStream(src), nil
	})
}

func (s *inputStream[T]) open(ctx context.Context) error {
	if rs, ok := s.src.(*receiverSource[T]); ok {
		var wal *writeAheadLog
		if rs.logged {
			if s.ctx.ckpt == nil {
				return fmt.Errorf("stream %q: a write-ahead log needs a checkpoint location", s.name)
			}
			if _, local := s.ctx.ckpt.store.(*checkpoint.Dir); local && s.ctx.cfg.Receivers != nil {
				return fmt.Errorf("stream %q: executors write the write-ahead log, which needs an s3:// checkpoint location", s.name)
			}
			wal = &writeAheadLog{stream: s.name, epoch: s.ctx.ckpt.epoch, store: s.ctx.ckpt.store, log: s.ctx.log,
				report: s.ctx.ckpt.reportStore("the write-ahead log of " + s.name)}
		}
		var src Source[T] = rs
		recover := rs.takeRecovered
		if s.ctx.cfg.Receivers != nil {
			// The driver of a cluster: the receiver runs on an executor,
			// which logs what it receives.
			hs := &hostedSource[T]{node: s.id, name: s.name, scheduler: s.ctx.cfg.Receivers,
				committed: s.ctx.metrics.lastCommitted, fetch: s.ctx.cfg.FetchBlock}
			if wal != nil {
				hs.logEpoch = wal.epoch
			}
			src, recover = hs, hs.takeRecovered
		} else {
			rs.wal = wal
		}
		s.src = src
		if wal != nil {
			s.src = &loggedReceiver[T]{Source: src, wal: wal, recover: recover}
		}
	}
	return s.src.Open(ctx)
}
func (s *inputStream[T]) exhausted() bool { return s.src.Exhausted() }

// pruneLog deletes what the source's write-ahead log holds of the batches
// through t, if it has one.
func (s *inputStream[T]) pruneLog(ctx context.Context, t Time) error {
	if p, ok := s.src.(logPruner); ok {
		return p.pruneLog(ctx, t)
	}
	return nil
}
func (s *inputStream[T]) close() error { return s.src.Close() }

func (s *inputStream[T]) plan(ctx context.Context, t Time) error {
	in, err := s.src.Plan(ctx, t)
	if err != nil {
		return err
	}
	if in == nil {
		in = memoryInput[T](nil)
	}
	var pos, enc []byte
	rs, replayable := s.src.(ReplayableSource[T])
	if replayable && s.ctx.ckpt != nil {
		if pos, err = rs.Position(); err != nil {
			return fmt.Errorf("saving the source's position for the checkpoint: %w", err)
		}
		if enc, err = rs.EncodeInput(in); err != nil {
			return fmt.Errorf("saving the batch's plan for the checkpoint: %w", err)
		}
	}
	ended := s.src.Exhausted()
	s.mu.Lock()
	s.planned[t] = in
	s.ended = ended
	if enc != nil {
		if s.encoded == nil {
			s.encoded = map[Time][]byte{}
		}
		s.position, s.encoded[t] = pos, enc
	}
	s.mu.Unlock()
	return nil
}

// replayable reports whether a recovered driver can re-read this source's
// plans.
func (s *inputStream[T]) replayable() bool {
	_, ok := s.src.(ReplayableSource[T])
	return ok
}

// savedPlans returns the source's position and its encoded plans of the
// batches after after: what the metadata checkpoint records of it.
func (s *inputStream[T]) savedPlans(after Time) (position []byte, plans []savedPlan) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for t, enc := range s.encoded {
		if t > after {
			plans = append(plans, savedPlan{Time: t, Input: enc})
		}
	}
	slices.SortFunc(plans, func(a, b savedPlan) int { return cmp.Compare(a.Time, b.Time) })
	return s.position, plans
}

// restorePlans moves a replayable source to a saved position and
// reinstates its saved plans; for any other source the batches at lost get
// no input, which is what a driver's death cost them.
func (s *inputStream[T]) restorePlans(position []byte, plans []savedPlan, lost []Time) error {
	rs, ok := s.src.(ReplayableSource[T])
	if !ok {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, t := range lost {
			s.planned[t] = memoryInput[T](nil)
		}
		return nil
	}
	if position != nil {
		if err := rs.Restore(position); err != nil {
			return fmt.Errorf("restoring the source's position: %w", err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.encoded == nil {
		s.encoded = map[Time][]byte{}
	}
	for _, p := range plans {
		in, err := rs.DecodeInput(p.Input)
		if err != nil {
			return fmt.Errorf("batch %s: restoring its plan: %w", p.Time, err)
		}
		s.planned[p.Time], s.encoded[p.Time] = in, p.Input
	}
	s.position, s.ended = position, rs.Exhausted()
	return nil
}

func (s *inputStream[T]) plannedLast() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended
}

func (s *inputStream[T]) compute(t Time) (*dataset[T], error) {
	s.mu.Lock()
	in, planned := s.planned[t]
	s.mu.Unlock()
	store := s.ctx.blocks
	if !planned {
		// A worker: the driver planned and read this batch, and serves its blocks.
		parts, ok := s.ctx.workerInputParts(s.id, t)
		if !ok {
			return nil, fmt.Errorf("no input was planned for this batch (it is older than the stream remembers)")
		}
		st := newStage(&s.nodeInfo, t, "input", nil, parts, nil)
		st.driverOnly = true
		st.markDone()
		return blockDataset[T](&s.nodeInfo, t, st, parts), nil
	}
	if ri, ok := in.(receivedInput[T]); ok {
		st := s.placeReceivedInput(t, ri)
		return blockDataset[T](&s.nodeInfo, t, st, ri.Partitions()), nil
	}
	if mi, ok := in.(MemoryInput[T]); ok {
		st := newStage(&s.nodeInfo, t, "input", nil, mi.Partitions(), nil)
		st.driverOnly = true
		for p := 0; p < mi.Partitions(); p++ {
			putBlock(store, BlockID{Stage: st.key, Task: p}, mi.Partition(p))
		}
		st.markDone()
		return blockDataset[T](&s.nodeInfo, t, st, mi.Partitions()), nil
	}
	var st *stage
	st = newStage(&s.nodeInfo, t, "input", nil, in.Partitions(), func(tc *taskContext, p int) error {
		var records []T
		if err := in.Read(tc.ctx, p, func(r T) bool { records = append(records, r); return true }); err != nil {
			return fmt.Errorf("reading input partition %d: %w", p, err)
		}
		putBlock(store, BlockID{Stage: st.key, Task: p}, records)
		return nil
	})
	st.driverOnly = true
	return blockDataset[T](&s.nodeInfo, t, st, in.Partitions()), nil
}

func (s *inputStream[T]) plannedBatches() []InputBatch {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]InputBatch, 0, len(s.planned))
	for t, in := range s.planned {
		out = append(out, InputBatch{Node: s.id, Time: t, Partitions: in.Partitions()})
	}
	return out
}

func (s *inputStream[T]) materialize(ctx context.Context, t Time) (int64, error) {
	ds, err := get[T](s, t)
	if err != nil || ds == nil {
		return 0, err
	}
	if err := ensureAll(ctx, s.ctx.sched, ds.stages); err != nil {
		return 0, err
	}
	return ds.records(), nil
}

func (s *inputStream[T]) forget(before Time) {
	s.memo.forget(before)
	if s.ctx.ckpt != nil && s.replayable() {
		// A recovering driver recomputes every batch after the newest
		// data checkpoint from these plans.
		before = min(before, s.ctx.ckpt.plansNeededAfter()+1)
	}
	s.mu.Lock()
	for t := range s.planned {
		if t < before {
			delete(s.planned, t)
			delete(s.encoded, t)
		}
	}
	s.mu.Unlock()
}

// splitEvenly cuts records into at most n contiguous partitions of nearly
// equal size.
func splitEvenly[T any](records []T, n int) [][]T {
	if len(records) == 0 {
		return nil
	}
	if n > len(records) {
		n = len(records)
	}
	parts := make([][]T, n)
	for i := range parts {
		lo, hi := i*len(records)/n, (i+1)*len(records)/n
		parts[i] = records[lo:hi:hi]
	}
	return parts
}
