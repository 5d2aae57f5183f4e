package runtime

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// inputNode is a stream fed by a source. Planning happens on the batch clock;
// reading happens in tasks.
type inputNode interface {
	node
	open(ctx context.Context) error
	// plan decides the input of the batch at t.
	plan(ctx context.Context, t Time) error
	// exhausted reports that a bounded source has planned its last batch.
	exhausted() bool
	// pruneLog deletes what a write-ahead log holds of the batches
	// through t, which no recovery recomputes any more.
	pruneLog(ctx context.Context, t Time) error
	// materialize makes the input of t available in memory and returns how
	// many records it has.
	materialize(ctx context.Context, t Time) (int64, error)
	// plannedBatches lists the partition counts of the remembered batches.
	plannedBatches() []InputBatch
	// plannedLast reports, from any goroutine, that the last plan was the
	// source's final one.
	plannedLast() bool
	close() error

	// For checkpoints: see inputStream.
	replayable() bool
	savedPlans(after Time) (position []byte, plans []savedPlan)
	restorePlans(position []byte, plans []savedPlan, lost []Time) error
}

// outputNode is an output operation.
type outputNode interface {
	node
	// prepare computes the output's batch at t and returns the commit that
	// publishes it. Prepares of different batches may overlap; commits run
	// one at a time, in batch order and, within a batch, in the order the
	// outputs were defined.
	prepare(ctx context.Context, t Time) (commit func(context.Context) error, err error)
}

// planError is a source that failed to plan a batch. Planning moves the
// source forward, so a batch is never re-planned: the job stops.
type planError struct{ err error }

func (e planError) Error() string { return e.err.Error() }
func (e planError) Unwrap() error { return e.err }

type batchJob struct {
	time      Time
	last      bool
	planErr   error
	submitted time.Time
	attempts  int

	done      chan struct{}
	started   time.Time
	prepared  time.Time
	records   int64
	perSource map[string]int64
	commits   []func(context.Context) error
	err       error
}

// jobQueue is the unbounded queue between the batch clock and the runner, so
// that batches are cut on time even while earlier ones are still running.
type jobQueue struct {
	mu     sync.Mutex
	jobs   []*batchJob
	closed bool
	signal chan struct{}
}

func newJobQueue() *jobQueue { return &jobQueue{signal: make(chan struct{}, 1)} }

func (q *jobQueue) push(j *batchJob) {
	q.mu.Lock()
	q.jobs = append(q.jobs, j)
	q.mu.Unlock()
	q.wake()
}

func (q *jobQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.wake()
}

func (q *jobQueue) wake() {
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// tryPop returns the next job, or nil if none is queued.
func (q *jobQueue) tryPop() *batchJob {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.jobs) == 0 {
		return nil
	}
	j := q.jobs[0]
	q.jobs = q.jobs[1:]
	return j
}

// drained reports that the queue is closed and empty: no batch will come.
func (q *jobQueue) drained() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed && len(q.jobs) == 0
}

func (q *jobQueue) pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.jobs)
}

type runState struct {
	ctx      context.Context
	cancel   context.CancelFunc
	genStop  context.CancelFunc
	queue    *jobQueue
	done     chan struct{}
	err      error
	stopping bool // Stop was called: ending is not a failure
	graceful bool // ... and asked to finish the batches already cut
	mu       sync.Mutex
}

// Start validates the graph, opens the sources and starts cutting batches.
// It returns at once; use AwaitTermination to wait for the end.
func (c *Context) Start(ctx context.Context) error {
	c.mu.Lock()
	if c.started {
		c.mu.Unlock()
		return errors.New("streaming context already started")
	}
	if err := c.validate(); err != nil {
		c.mu.Unlock()
		return err
	}
	c.started = true
	c.mu.Unlock()

	interval := c.cfg.BatchInterval.Milliseconds()
	c.zeroTime = Time(c.cfg.Clock.Now().UnixMilli() / interval * interval)
	var rec *recovered
	if c.ckpt != nil {
		var err error
		if rec, err = c.ckpt.recover(ctx); err != nil {
			return fmt.Errorf("recovering from the checkpoint at %s: %w", c.ckpt.store, err)
		}
		if rec != nil {
			c.zeroTime = rec.meta.ZeroTime
		}
	}
	c.plannedThrough = c.zeroTime
	c.sched = newScheduler(c.cfg.Workers)

	runCtx, cancel := context.WithCancel(ctx)
	genCtx, genStop := context.WithCancel(runCtx)
	r := &runState{ctx: runCtx, cancel: cancel, genStop: genStop, queue: newJobQueue(), done: make(chan struct{})}
	c.run = r
	fail := func(opened []inputNode, err error) error {
		for _, in := range opened {
			_ = in.close()
		}
		cancel()
		c.sched.close()
		close(r.done)
		return err
	}
	for i, in := range c.inputs {
		if err := in.open(runCtx); err != nil {
			return fail(c.inputs[:i], fmt.Errorf("opening source %q: %w", in.info().name, err))
		}
	}
	var pending []Time
	if rec != nil {
		var err error
		if pending, err = c.restore(rec); err != nil {
			return fail(c.inputs, fmt.Errorf("recovering from checkpoint %s: %w", rec.key, err))
		}
		c.plannedThrough = rec.meta.PlannedThrough
	}
	c.log.Info("streaming context started", "batchInterval", c.cfg.BatchInterval, "workers", c.cfg.Workers,
		"zeroTime", int64(c.zeroTime), "streams", len(c.nodes), "recovered", rec != nil)
	go c.generate(genCtx, r, pending, c.plannedThrough.Add(c.cfg.BatchInterval))
	go c.runBatches(r)
	return nil
}

// AwaitTermination blocks until the context stops: a bounded run finished,
// Stop was called, or a batch failed under the StopJob policy (its error is
// returned).
func (c *Context) AwaitTermination() error {
	if c.run == nil {
		return errors.New("streaming context not started")
	}
	<-c.run.done
	return c.run.err
}

// Done is closed when the context has stopped.
func (c *Context) Done() <-chan struct{} {
	if c.run == nil {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	return c.run.done
}

// StopWhenDone stops the context gracefully when ctx ends, after calling
// onStop (if not nil): how a process turns Ctrl-C or SIGTERM into "finish
// the batches already cut". It returns at once.
func (c *Context) StopWhenDone(ctx context.Context, onStop func()) {
	go func() {
		select {
		case <-ctx.Done():
			if onStop != nil {
				onStop()
			}
			_ = c.Stop(true)
		case <-c.Done():
		}
	}()
}

// Stop stops the context. A graceful stop cuts no new batch but finishes and
// commits every batch already cut; otherwise running batches are abandoned
// uncommitted. Stop waits until the context has stopped.
func (c *Context) Stop(graceful bool) error {
	r := c.run
	if r == nil {
		return errors.New("streaming context not started")
	}
	r.mu.Lock()
	r.stopping, r.graceful = true, graceful
	r.mu.Unlock()
	r.genStop()
	if !graceful {
		r.cancel()
	}
	<-r.done
	return r.err
}

// generate is the batch clock: it queues the batches a recovered driver
// found pending, then, from first on, at every interval, plans each
// source's input for the new batch and queues the batch. After a recovery
// the times missed while no driver ran are in the past: those batches are
// cut at once, one after the other.
func (c *Context) generate(ctx context.Context, r *runState, pending []Time, first Time) {
	defer r.queue.close()
	for i, t := range pending {
		last := i == len(pending)-1 && c.allPlannedLast()
		r.queue.push(&batchJob{time: t, submitted: time.Now(), last: last})
		if last {
			return
		}
	}
	for t := first; ; t = t.Add(c.cfg.BatchInterval) {
		if err := c.cfg.Clock.WaitUntil(ctx, t.Std()); err != nil {
			return
		}
		job := &batchJob{time: t, submitted: time.Now()}
		last := true
		c.planMu.Lock()
		for _, in := range c.inputs {
			if err := in.plan(r.ctx, t); err != nil {
				job.planErr = planError{&BatchError{Stream: in.info().name, Time: t, Err: fmt.Errorf("planning input: %w", err)}}
				break
			}
			last = last && in.exhausted()
		}
		c.plannedThrough = t
		c.planMu.Unlock()
		job.last = last
		r.queue.push(job)
		if last || job.planErr != nil {
			return
		}
	}
}

func (c *Context) allPlannedLast() bool {
	for _, in := range c.inputs {
		if !in.plannedLast() {
			return false
		}
	}
	return true
}

// runBatches computes queued batches, up to MaxConcurrentBatches at once
// (timestep pipelining), and commits them strictly in batch order.
func (c *Context) runBatches(r *runState) {
	var inflight []*batchJob
	defer func() { c.shutdown(r, inflight) }()
	for {
		for len(inflight) < c.cfg.MaxConcurrentBatches {
			j := r.queue.tryPop()
			if j == nil {
				break
			}
			c.launch(r, j)
			inflight = append(inflight, j)
		}
		if len(inflight) == 0 {
			if r.queue.drained() {
				return
			}
			select {
			case <-r.queue.signal:
			case <-r.ctx.Done():
				return
			}
			continue
		}
		head := inflight[0]
		select {
		case <-head.done:
		case <-r.queue.signal:
			continue
		case <-r.ctx.Done():
			return
		}
		err := head.err
		if err == nil && c.ckpt != nil {
			err = c.ckpt.guardCommit(r.ctx)
		}
		if err == nil {
			err = c.commit(r.ctx, head)
		}
		if err != nil {
			if r.ctx.Err() != nil {
				return
			}
			head.attempts++
			var pe planError
			if errors.Is(err, ErrFenced) || errors.As(err, &pe) || head.attempts >= c.cfg.FailurePolicy.maxAttempts() {
				c.log.Error("batch failed; stopping", "batchTime", int64(head.time), "attempts", head.attempts, "error", err)
				r.err = err
				return
			}
			c.log.Warn("batch failed; recomputing it from lineage", "batchTime", int64(head.time), "attempt", head.attempts, "error", err)
			for _, j := range inflight {
				<-j.done
			}
			c.invalidateFrom(head.time)
			for _, j := range inflight {
				c.launch(r, j)
			}
			continue
		}
		inflight = inflight[1:]
		if c.ckpt != nil {
			if err := c.ckpt.committed(r.ctx, head.time, head.last); err != nil {
				if r.ctx.Err() == nil {
					r.err = err
				}
				return
			}
		}
		c.completed(head, r.queue.pending()+len(inflight))
		if head.last {
			c.log.Info("all sources are exhausted; the last batch is committed", "batchTime", int64(head.time))
			return
		}
	}
}

func (c *Context) launch(r *runState, j *batchJob) {
	j.done = make(chan struct{})
	j.err, j.commits = nil, nil
	go func() {
		defer close(j.done)
		j.started = time.Now()
		if j.planErr != nil {
			j.err = j.planErr
			return
		}
		j.records, j.perSource, j.commits, j.err = c.prepare(r.ctx, j.time)
		j.prepared = time.Now()
	}()
}

// prepare materializes the inputs of t and computes every output's batch.
func (c *Context) prepare(ctx context.Context, t Time) (int64, map[string]int64, []func(context.Context) error, error) {
	var total int64
	perSource := make(map[string]int64, len(c.inputs))
	for _, in := range c.inputs {
		n, err := in.materialize(ctx, t)
		if err != nil {
			return 0, nil, nil, err
		}
		perSource[in.info().name] = n
		total += n
	}
	commits := make([]func(context.Context) error, len(c.outputs))
	errs := make([]error, len(c.outputs))
	var wg sync.WaitGroup
	for i, o := range c.outputs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			commits[i], errs[i] = c.prepareOutput(ctx, o, t)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return 0, nil, nil, err
		}
	}
	if err := c.computeCheckpointed(ctx, t); err != nil {
		return 0, nil, nil, err
	}
	return total, perSource, commits, nil
}

// computeCheckpointed computes the batch at t of every checkpointed stream
// (states, and the parents of windows), whether or not an output read it:
// an output that finds its batch already committed reads nothing, yet the
// next batches build on this one, and the batches before it are forgotten
// once t commits.
func (c *Context) computeCheckpointed(ctx context.Context, t Time) error {
	for _, n := range c.nodes {
		in := n.info()
		if !in.checkpointed || !in.validTime(t) {
			continue
		}
		if _, _, err := in.saver.pin(ctx, t); err != nil {
			return err
		}
	}
	return nil
}

// prepareOutput prepares one output. In a cluster, a block of a lost
// executor makes it fail until the block is recomputed: it retries, and the
// retry ensures the stages again, which reruns their lost tasks.
func (c *Context) prepareOutput(ctx context.Context, o outputNode, t Time) (func(context.Context) error, error) {
	for attempt := 1; ; attempt++ {
		commit, err := o.prepare(ctx, t)
		var missing *MissingBlockError
		if err == nil || c.cfg.TaskRunner == nil || !errors.As(err, &missing) || attempt >= maxTaskAttempts {
			return commit, err
		}
		if missing, ok := notHeldAt(err); ok {
			c.loseTaskAt(missing.ID, missing.Address)
		}
		c.log.Warn("output needs a lost block; recomputing it", "stream", o.info().name, "batchTime", int64(t), "error", err)
		select {
		case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (c *Context) commit(ctx context.Context, j *batchJob) error {
	for i, commit := range j.commits {
		if commit == nil {
			continue
		}
		if err := commit(ctx); err != nil {
			var be *BatchError
			if errors.As(err, &be) {
				return err
			}
			return &BatchError{Stream: c.outputs[i].info().name, Time: j.time, Err: fmt.Errorf("committing output: %w", err)}
		}
	}
	return nil
}

// completed records a committed batch and drops what no window, state or
// retry can need any more.
func (c *Context) completed(j *batchJob, pending int) {
	end := time.Now()
	info := BatchInfo{
		Time:            j.time,
		InputRecords:    j.records,
		SourceRecords:   j.perSource,
		SubmittedAt:     j.submitted,
		StartedAt:       j.started,
		CompletedAt:     end,
		SchedulingDelay: j.started.Sub(j.submitted),
		ProcessingTime:  end.Sub(j.started),
		TotalDelay:      end.Sub(j.submitted),
		Attempts:        j.attempts + 1,
	}
	c.metrics.record(info, pending)
	c.log.Debug("batch committed", "batchTime", int64(j.time), "records", j.records,
		"processingTime", info.ProcessingTime, "totalDelay", info.TotalDelay)
	c.forgetThrough(j.time)
}

// forgetThrough drops what no window, state or retry can need once batch t
// is committed: a stream remembering d keeps the batches in (t-d, t].
func (c *Context) forgetThrough(t Time) {
	for _, n := range c.nodes {
		before := t.Add(-n.info().remember) + 1
		n.forget(before)
		n.info().dropStages(func(bt Time) bool { return bt < before })
	}
}

func (c *Context) invalidateFrom(t Time) {
	for _, n := range c.nodes {
		if _, isInput := n.(inputNode); isInput {
			continue
		}
		n.invalidate(t)
		n.info().dropStages(func(bt Time) bool { return bt >= t })
	}
}

func (c *Context) shutdown(r *runState, inflight []*batchJob) {
	r.genStop()
	r.mu.Lock()
	stopping, graceful := r.stopping, r.graceful
	r.mu.Unlock()
	if r.err == nil && r.ctx.Err() != nil && !stopping {
		r.err = fmt.Errorf("%w: %w", ErrStopped, context.Cause(r.ctx))
	}
	r.cancel()
	for _, j := range inflight {
		if j.done != nil {
			<-j.done
		}
	}
	if c.ckpt != nil {
		c.ckpt.close(graceful && r.err == nil, c.metrics.lastCommitted())
	}
	for _, in := range c.inputs {
		if err := in.close(); err != nil {
			c.log.Warn("closing source", "stream", in.info().name, "error", err)
		}
	}
	c.sched.close()
	c.log.Info("streaming context stopped", "error", r.err)
	close(r.done)
}
