package runtime

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

var stageIDs atomic.Int64

// StageKey names a stage identically in every process that builds the same
// graph: the node, the batch time of the computation that created it, and
// its creation order among that computation's stages. Dataset construction
// is deterministic, so the same key means the same work everywhere; the
// cluster runtime ships tasks by key.
type StageKey struct {
	Node    int  `json:"node"`
	Time    Time `json:"time"`
	Ordinal int  `json:"ordinal"`
}

func (k StageKey) String() string {
	return fmt.Sprintf("stage %d/%d/%d", k.Node, int64(k.Time), k.Ordinal)
}

// stage is a unit of materialization: the map side of a shuffle, or the
// partitions of a persisted dataset. It runs at most once; every batch that
// needs it waits for the same run. Stages form the DAG that the scheduler
// walks: a stage's deps run before its tasks.
type stage struct {
	id     int64
	key    StageKey
	stream *nodeInfo
	time   Time
	kind   string
	deps   []*stage
	tasks  int
	// buckets is the number of blocks each task writes (a shuffle's reduce
	// partitions); 1 otherwise.
	buckets int
	// driverOnly stages run where the context runs, even in cluster mode:
	// inputs, which sources plan in the driver.
	driverOnly bool
	run        func(tc *taskContext, p int) error

	mu    sync.Mutex
	state int // 0 pending, 1 running, 2 done
	done  chan struct{}
	err   error
	// lost are tasks whose output was on a lost executor: ensure reruns
	// just these, from the stage's lineage.
	lost map[int]bool
}

func newStage(n *nodeInfo, t Time, kind string, deps []*stage, tasks int, run func(*taskContext, int) error) *stage {
	st := &stage{id: stageIDs.Add(1), stream: n, time: t, kind: kind, deps: deps, tasks: tasks, buckets: 1, run: run, done: make(chan struct{})}
	st.key = n.logStage(t, st)
	return st
}

// ensure runs the stage (after its deps) unless it already ran or is
// running, in which case it waits for that run. It is called from batch
// coordinator goroutines, never from a worker, so a waiting caller never holds
// a worker that the stage needs.
func (st *stage) ensure(ctx context.Context, s *scheduler) error {
	st.mu.Lock()
	switch {
	case st.state == 2 && len(st.lost) == 0:
		st.mu.Unlock()
		return st.err
	case st.state == 1:
		done := st.done
		st.mu.Unlock()
		select {
		case <-done:
			return st.ensure(ctx, s) // it may have lost tasks again meanwhile
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	var tasks []int // nil: all of them
	if st.state == 2 {
		for p := range st.lost {
			tasks = append(tasks, p)
		}
		st.done = make(chan struct{})
	}
	st.state = 1
	st.mu.Unlock()

	var err error
	c := st.stream.ctx
	if c.cfg.TaskRunner != nil && !st.driverOnly {
		err = c.runRemote(ctx, st, tasks)
	} else {
		err = s.runTasks(ctx, st.stream, st.time, st.kind, st.deps, st.tasks, st.run)
	}

	st.mu.Lock()
	st.err = err
	st.state = 2
	if err == nil {
		// The results are stored; in local mode, dropping the closure and
		// the deps cuts the in-memory lineage, so a state stream does not
		// keep every earlier batch reachable. In cluster mode the deps are
		// how lost blocks are recomputed; they are cut when the batch is
		// forgotten.
		if c.cfg.TaskRunner == nil {
			st.run, st.deps = nil, nil
		}
	}
	close(st.done)
	st.mu.Unlock()
	return err
}

// markLost records that a task's output is gone. It may be called while
// the stage still runs (an executor died after finishing some of its
// tasks): the mark stays until that task succeeds again.
func (st *stage) markLost(task int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.lost == nil {
		st.lost = map[int]bool{}
	}
	st.lost[task] = true
}

// taskSucceeded clears a lost mark: the task's output is in place again.
func (st *stage) taskSucceeded(task int) {
	st.mu.Lock()
	delete(st.lost, task)
	st.mu.Unlock()
}

// markDone records a stage whose output is already in place (input blocks).
func (st *stage) markDone() {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.state != 2 {
		st.state = 2
		st.run, st.deps = nil, nil
		close(st.done)
	}
}

// markPlaced records a stage whose output another process already holds
// (received input). Unlike markDone it keeps run, which a lost task reruns.
func (st *stage) markPlaced() {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.state != 2 {
		st.state = 2
		close(st.done)
	}
}

// ensureAll runs independent stages concurrently and returns the first error.
func ensureAll(ctx context.Context, s *scheduler, stages []*stage) error {
	switch len(stages) {
	case 0:
		return nil
	case 1:
		return stages[0].ensure(ctx, s)
	}
	errs := make([]error, len(stages))
	var wg sync.WaitGroup
	seen := make(map[int64]bool, len(stages))
	for i, st := range stages {
		if seen[st.id] {
			continue
		}
		seen[st.id] = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = st.ensure(ctx, s)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
