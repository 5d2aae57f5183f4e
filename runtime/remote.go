package runtime

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// TaskRunner runs stage tasks in other processes: the cluster's executors.
// A context with a TaskRunner (the driver) sends every stage's tasks to it,
// except input stages, which sources plan in the driver.
type TaskRunner interface {
	// RunTask runs one task and returns the address of the process that
	// holds the blocks it wrote. An error means the task must be retried.
	RunTask(ctx context.Context, task TaskSpec) (address string, err error)
}

// TaskSpec names one task for a worker context built from the same graph:
// what to run, and what it needs that only the driver knows.
type TaskSpec struct {
	Stage     StageKey
	Partition int
	// ZeroTime is the driver's zero time: it decides which batch times a
	// stream has.
	ZeroTime Time
	// Inputs are the partition counts of the input batches the driver
	// remembers; workers cannot plan inputs, and building datasets needs
	// their partition counts.
	Inputs []InputBatch
	// Deps are where the blocks of the stage's dependencies are.
	Deps []BlockLocation
	// Committed is the newest committed batch: workers forget what no
	// window, state or retry can need any more.
	Committed Time
	// Speculative marks a backup copy of a straggling task: the runner
	// should place it away from the executor running the original.
	Speculative bool
	// Preferred are the addresses holding this partition's inputs: a
	// runner places the task there when that does not overload them.
	Preferred []string
	// Avoid is the address where the previous attempt failed: a retry
	// should go elsewhere when it can.
	Avoid string
}

// InputBatch is one input batch's partition count.
type InputBatch struct {
	Node       int
	Time       Time
	Partitions int
}

// BlockLocation says which process holds the blocks of one task.
type BlockLocation struct {
	Stage   StageKey
	Task    int
	Address string
}

// maxTaskAttempts bounds retries of one task before its batch fails.
// Attempts that ended because the executor was lost do not count, as in
// Spark: they say nothing about the task. maxLossRetries bounds those.
const (
	maxTaskAttempts = 4
	maxLossRetries  = 16
)

// ErrExecutorLost is wrapped by a TaskRunner's error when the task's
// executor was lost while running it.
var ErrExecutorLost = errors.New("executor lost")

// runRemote runs a stage's tasks (all of them when tasks is nil) through
// the TaskRunner, after its deps. A failed task is retried after its deps
// are ensured again: if it failed on a block of a lost executor, that block
// is recomputed first. A task much slower than its finished siblings gets a
// speculative copy elsewhere; the first to finish wins (tasks are
// deterministic, so both would write the same blocks).
func (c *Context) runRemote(ctx context.Context, st *stage, tasks []int) error {
	if tasks == nil {
		tasks = make([]int, st.tasks)
		for p := range tasks {
			tasks[p] = p
		}
	}
	st.mu.Lock()
	deps := st.deps
	st.mu.Unlock()
	if err := ensureAll(ctx, c.sched, deps); err != nil {
		return err
	}
	if err := c.ensureEarlierCheckpointed(ctx, st); err != nil {
		return err
	}
	// Where the finished batches of checkpointed streams are, for every
	// task of the stage.
	earlier := c.checkpointedBefore(st.time)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	type outcome struct {
		task int
		addr string
		took time.Duration
		err  error
	}
	results := make(chan outcome, 2*len(tasks))
	launch := func(p int, speculative bool) {
		go func() {
			start := time.Now()
			addr, err := c.runTaskWithRetries(ctx, st, deps, earlier, p, speculative)
			results <- outcome{task: p, addr: addr, took: time.Since(start), err: err}
		}()
	}
	started := map[int]time.Time{}
	for _, p := range tasks {
		started[p] = time.Now()
		launch(p, false)
	}
	pending := len(tasks)
	finished := map[int]bool{}
	speculated := map[int]bool{}
	var durations []time.Duration
	tick := time.NewTicker(speculationCheck)
	defer tick.Stop()
	for pending > 0 {
		select {
		case o := <-results:
			if finished[o.task] {
				continue // the other copy won
			}
			if o.err != nil {
				if speculated[o.task] && !finished[o.task] {
					speculated[o.task] = false // the other copy may still succeed
					continue
				}
				return o.err
			}
			finished[o.task] = true
			pending--
			durations = append(durations, o.took)
			st.taskSucceeded(o.task)
			c.blocks.setLocation(st.key, o.task, o.addr)
		case <-tick.C:
			for _, p := range stragglers(tasks, finished, speculated, started, durations, time.Now()) {
				speculated[p] = true
				c.log.Info("task is a straggler; launching a speculative copy", "stage", st.key.String(), "partition", p)
				c.speculated.Add(1)
				launch(p, true)
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// speculationCheck is how often running tasks are compared with the median.
const speculationCheck = 20 * time.Millisecond

// stragglers returns the running tasks that have run longer than 1.4x the
// median of their finished siblings (the D-Streams rule), once half of the
// stage has finished, and that have no copy yet.
func stragglers(tasks []int, finished, speculated map[int]bool, started map[int]time.Time, durations []time.Duration, now time.Time) []int {
	if len(durations) == 0 || 2*len(durations) < len(tasks) {
		return nil
	}
	sorted := append([]time.Duration(nil), durations...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	median := sorted[len(sorted)/2]
	limit := max(median*14/10, 10*time.Millisecond)
	var out []int
	for _, p := range tasks {
		if !finished[p] && !speculated[p] && now.Sub(started[p]) > limit {
			out = append(out, p)
		}
	}
	return out
}

// runTaskWithRetries runs one task until it succeeds or its attempts are
// spent, and returns where its blocks are.
func (c *Context) runTaskWithRetries(ctx context.Context, st *stage, deps, earlier []*stage, p int, speculative bool) (string, error) {
	losses := 0
	avoid := ""
	for attempt := 1; ; attempt++ {
		locs := c.depLocations(append(slices.Clone(deps), earlier...))
		// A recovered driver recomputes batches it had committed: a worker
		// must not forget what such a task needs.
		committed := min(c.metrics.forgettable(), st.time.Add(-c.cfg.BatchInterval))
		task := TaskSpec{Stage: st.key, Partition: p, ZeroTime: c.zeroTime, Inputs: c.inputBatches(),
			Deps: locs, Committed: committed, Speculative: speculative, Preferred: preferred(locs, p), Avoid: avoid}
		addr, err := c.cfg.TaskRunner.RunTask(ctx, task)
		if err != nil {
			avoid = addr
		}
		if err == nil && st.stream.selfDependent {
			// The executor keeps serving the block (the next batch's task
			// prefers it); the driver's copy stands in if it is lost.
			err = c.replicate(ctx, st, p, addr)
		}
		if err == nil {
			return addr, nil
		}
		if missing, ok := notHeldAt(err); ok {
			c.loseTaskAt(missing.ID, missing.Address)
		}
		if errors.Is(err, ErrExecutorLost) && losses < maxLossRetries {
			losses++
			attempt--
		}
		if ctx.Err() != nil || attempt >= maxTaskAttempts {
			return "", &BatchError{Stream: st.stream.name, Time: st.time,
				Err: fmt.Errorf("task %d of %s failed %d times: %w", p, st.key, attempt, err)}
		}
		c.log.Warn("task failed; retrying", "stage", st.key.String(), "partition", p, "attempt", attempt, "error", err)
		// Give the loss of an executor time to be noticed, then recompute
		// whatever of the deps it held.
		select {
		case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
		case <-ctx.Done():
		}
		if err := ensureAll(ctx, c.sched, deps); err != nil {
			return "", err
		}
	}
}

// inputBatches lists the partition counts of every remembered input batch.
func (c *Context) inputBatches() []InputBatch {
	var out []InputBatch
	for _, in := range c.inputs {
		out = append(out, in.plannedBatches()...)
	}
	return out
}

// ensureEarlierCheckpointed runs the unfinished stages, of batches before
// st's, of the checkpointed streams in st's lineage. A worker building st's
// dataset reads those batches where the driver says they are (see
// checkpointedBefore) and must not rebuild them from lineage, which may
// reach back past a restored checkpoint. Deps alone do not order them: a
// stage's deps run concurrently, so when a recovered driver computes a
// chain of batches at once, the shuffle of batch t would run beside the
// state of batch t-1 that a worker needs to build batch t.
func (c *Context) ensureEarlierCheckpointed(ctx context.Context, st *stage) error {
	var unfinished []*stage
	seen := map[*nodeInfo]bool{}
	var visit func(n *nodeInfo)
	visit = func(n *nodeInfo) {
		if seen[n] {
			return
		}
		seen[n] = true
		if n.checkpointed {
			n.stageMu.Lock()
			for bt, log := range n.stageLog {
				if bt >= st.time || len(log) == 0 {
					continue
				}
				last := log[len(log)-1]
				last.mu.Lock()
				done := last.state == 2 && last.err == nil && len(last.lost) == 0
				last.mu.Unlock()
				if !done {
					unfinished = append(unfinished, last)
				}
			}
			n.stageMu.Unlock()
		}
		for _, p := range n.parents {
			visit(p.info())
		}
	}
	visit(st.stream)
	return ensureAll(ctx, c.sched, unfinished)
}

// checkpointedBefore lists the finished batches of checkpointed streams
// before t, as the stages that hold them: a worker reads those batches as
// blocks rather than rebuilding their lineage, which may reach back past
// what the driver remembers (to a checkpoint only the driver restored).
// A stream's batch is the last stage created for it at its time.
func (c *Context) checkpointedBefore(t Time) []*stage {
	var out []*stage
	for _, n := range c.nodes {
		in := n.info()
		if !in.checkpointed {
			continue
		}
		in.stageMu.Lock()
		for bt, log := range in.stageLog {
			if bt >= t || len(log) == 0 {
				continue
			}
			st := log[len(log)-1]
			st.mu.Lock()
			done := st.state == 2 && st.err == nil && len(st.lost) == 0
			st.mu.Unlock()
			if done {
				out = append(out, st)
			}
		}
		in.stageMu.Unlock()
	}
	return out
}

// depLocations says where every block of deps is: recorded locations for
// tasks that ran elsewhere, this process for the rest.
func (c *Context) depLocations(deps []*stage) []BlockLocation {
	var out []BlockLocation
	for _, d := range deps {
		for task := 0; task < d.tasks; task++ {
			addr, ok := c.blocks.location(d.key, task)
			if !ok {
				addr = c.cfg.BlockAddress
			}
			out = append(out, BlockLocation{Stage: d.key, Task: task, Address: addr})
		}
	}
	return out
}

// worker is the state of a context that runs tasks for a driver.
type worker struct {
	once sync.Once
	// active is set once the context runs tasks for a driver.
	active    atomic.Bool
	err       error
	mu        sync.Mutex
	inputs    map[int]map[Time]int
	committed Time
	// running counts the tasks in progress by their Committed: a worker
	// forgets only through the lowest, since a task for an earlier batch
	// (a retry, a recovered driver's replay) may run beside a later one
	// whose Committed is past what the earlier one reads.
	running map[Time]int
	// earlier holds, for self-dependent streams, the stage and partition
	// count of earlier batches a task reads: the worker reads them as
	// blocks instead of recomputing every batch back to the first.
	earlier map[nodeTime]earlierBatch
	// received counts the partitions of the input batches that receivers
	// on this executor, or their replicas, stored here.
	received map[nodeTime]int
	// computing counts the running tasks by the batch they compute: a
	// batch being computed here is not read from where the driver said it
	// was (a lost partition of it is being recomputed).
	computing map[nodeTime]int
}

type nodeTime struct {
	node int
	time Time
}

type earlierBatch struct {
	stage StageKey
	parts int
}

// RunTask runs one task in this context, which must be built from the
// driver's graph (same manifest, same parallelism) and not started: this is
// how an executor runs the tasks the driver sends. The task's blocks stay
// here, to be served with EncodedBlock; its inputs are fetched with
// Config.FetchBlock. An unknown stage is an error, not a crash.
func (c *Context) RunTask(ctx context.Context, spec TaskSpec) error {
	w := &c.work
	w.once.Do(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.started {
			w.err = errors.New("a started context cannot run tasks for a driver")
			return
		}
		if w.err = c.validate(); w.err != nil {
			return
		}
		c.started = true // the graph is complete: nothing may be added now
		c.zeroTime = spec.ZeroTime
		w.active.Store(true)
		w.inputs = map[int]map[Time]int{}
		w.earlier = map[nodeTime]earlierBatch{}
		w.running = map[Time]int{}
		w.computing = map[nodeTime]int{}
	})
	if w.err != nil {
		return w.err
	}
	if spec.ZeroTime != c.zeroTime {
		return fmt.Errorf("task for zero time %s, this worker serves %s", spec.ZeroTime, c.zeroTime)
	}
	w.mu.Lock()
	for _, in := range spec.Inputs {
		if w.inputs[in.Node] == nil {
			w.inputs[in.Node] = map[Time]int{}
		}
		w.inputs[in.Node][in.Time] = in.Partitions
	}
	w.running[spec.Committed]++
	own := nodeTime{spec.Stage.Node, spec.Stage.Time}
	w.computing[own]++
	horizon := spec.Committed
	for t := range w.running {
		horizon = min(horizon, t)
	}
	forget := horizon > w.committed
	if forget {
		w.committed = horizon
	}
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		if w.running[spec.Committed]--; w.running[spec.Committed] == 0 {
			delete(w.running, spec.Committed)
		}
		if w.computing[own]--; w.computing[own] == 0 {
			delete(w.computing, own)
		}
		w.mu.Unlock()
	}()
	if forget {
		c.forgetThrough(horizon)
		c.forgetWorkerState(horizon)
	}
	for _, d := range spec.Deps {
		c.blocks.setLocation(d.Stage, d.Task, d.Address)
	}
	w.mu.Lock()
	for _, d := range spec.Deps {
		if d.Stage.Time >= spec.Stage.Time || d.Stage.Node < 1 || d.Stage.Node > len(c.nodes) || !c.nodes[d.Stage.Node-1].info().checkpointed {
			continue
		}
		// A checkpointed stream's earlier batch is its persisted output.
		k := nodeTime{d.Stage.Node, d.Stage.Time}
		e := w.earlier[k]
		e.stage, e.parts = d.Stage, max(e.parts, d.Task+1)
		w.earlier[k] = e
	}
	w.mu.Unlock()

	k := spec.Stage
	if k.Node < 1 || k.Node > len(c.nodes) {
		return fmt.Errorf("unknown %s: the graph has %d nodes", k, len(c.nodes))
	}
	n := c.nodes[k.Node-1].info()
	if n.materialize == nil {
		return fmt.Errorf("unknown %s: node %q has no batches", k, n.name)
	}
	if err := n.materialize(k.Time); err != nil {
		return err
	}
	st, ok := n.stageByKey(k)
	if !ok {
		return fmt.Errorf("unknown %s", k)
	}
	if st.driverOnly {
		return fmt.Errorf("%s runs in the driver", k)
	}
	if spec.Partition < 0 || spec.Partition >= st.tasks {
		return fmt.Errorf("%s has %d tasks, not %d", k, st.tasks, spec.Partition+1)
	}
	tc := &taskContext{ctx: ctx, current: st.stream, time: st.time}
	return runTask(tc, spec.Partition, st.run)
}

// forgetWorkerState drops what the driver told about batches that no
// stream remembers any more, so a long-running executor does not grow.
func (c *Context) forgetWorkerState(committed Time) {
	c.ForgetReceived(committed)
	w := &c.work
	w.mu.Lock()
	defer w.mu.Unlock()
	for node, times := range w.inputs {
		h := c.forgetHorizon(node, committed)
		for t := range times {
			if t < h {
				delete(times, t)
			}
		}
	}
	for k := range w.earlier {
		if k.time < c.forgetHorizon(k.node, committed) {
			delete(w.earlier, k)
		}
	}
}

// workerInputParts returns the partition count the driver sent for an
// input batch.
func (c *Context) workerInputParts(node int, t Time) (int, bool) {
	w := &c.work
	w.mu.Lock()
	defer w.mu.Unlock()
	n, ok := w.inputs[node][t]
	return n, ok
}

// earlierBatch returns the stage of a self-dependent stream's earlier
// batch that the driver said a task reads, if any.
func (c *Context) earlierBatch(node int, t Time) (earlierBatch, bool) {
	w := &c.work
	w.mu.Lock()
	defer w.mu.Unlock()
	k := nodeTime{node, t}
	if w.computing[k] > 0 {
		return earlierBatch{}, false
	}
	e, ok := w.earlier[k]
	return e, ok
}

// EncodedBlock returns a block this context holds, encoded for the wire:
// what executors serve to each other and the driver to executors.
func (c *Context) EncodedBlock(id BlockID) ([]byte, error) { return c.blocks.encoded(id) }

// LoseBlocksAt records that the process at address is gone with its
// blocks: a block this process has a copy of is served from here from now
// on; for the others, every finished stage that kept output there reruns
// those tasks the next time a batch needs them.
func (c *Context) LoseBlocksAt(address string) {
	for _, loc := range c.blocks.dropLocationsAt(address) {
		c.relocateOrLose(loc)
	}
}

// loseTaskAt records that the process at address answered that it does
// not hold a task's blocks, though the driver recorded them there.
func (c *Context) loseTaskAt(id BlockID, address string) {
	loc := taskLocation{id.Stage, id.Task}
	if dropped, promoted := c.blocks.dropLocation(loc, address); dropped && !promoted {
		c.log.Warn("a block is not where it was written; rerunning its task", "block", id.String(), "address", address)
		c.relocateOrLose(loc)
	}
}

// relocateOrLose serves a task's blocks from this process when it has a
// copy, and otherwise marks the task lost, to be rerun when a batch needs
// it.
func (c *Context) relocateOrLose(loc taskLocation) {
	if loc.stage.Node < 1 || loc.stage.Node > len(c.nodes) {
		return
	}
	st, ok := c.nodes[loc.stage.Node-1].info().stageByKey(loc.stage)
	if !ok {
		return
	}
	if c.blocks.holdsTask(loc.stage, loc.task, max(st.buckets, 1)) {
		c.blocks.setLocation(loc.stage, loc.task, c.cfg.BlockAddress)
		return
	}
	st.markLost(loc.task)
}

// replicate copies a task's blocks from the executor that wrote them into
// this process, which then serves them: the blocks of self-dependent
// streams cannot be recomputed once their predecessor is forgotten.
func (c *Context) replicate(ctx context.Context, st *stage, task int, addr string) error {
	for b := 0; b < max(st.buckets, 1); b++ {
		id := BlockID{Stage: st.key, Task: task, Bucket: b}
		data, err := c.cfg.FetchBlock(ctx, addr, id)
		if err != nil {
			return fmt.Errorf("replicating block %s from %s: %w", id, addr, err)
		}
		c.blocks.putRaw(id, data)
	}
	return nil
}

// preferred returns where the blocks of partition p's own inputs are: a
// narrow task reads its parent's partition p, a map task its parent's
// partition p, a stage's previous batch its partition p.
func preferred(locs []BlockLocation, p int) []string {
	var out []string
	for _, l := range locs {
		if l.Task == p && !slices.Contains(out, l.Address) {
			out = append(out, l.Address)
		}
	}
	return out
}
