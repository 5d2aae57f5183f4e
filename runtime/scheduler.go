package runtime

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
)

// scheduler runs tasks on a fixed pool of worker goroutines: local[N].
// Tasks never wait on other tasks; all waiting happens in the coordinator
// goroutines that call runTasks, so the pool cannot deadlock.
type scheduler struct {
	work chan func()
	wg   sync.WaitGroup
}

func newScheduler(workers int) *scheduler {
	s := &scheduler{work: make(chan func())}
	for i := 0; i < workers; i++ {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for f := range s.work {
				f()
			}
		}()
	}
	return s
}

func (s *scheduler) close() {
	close(s.work)
	s.wg.Wait()
}

// runTasks makes sure deps are complete, then runs task p for p in [0, n) on
// the pool and waits for all of them. A failing or panicking task fails the
// call with a BatchError naming the stream that failed and the batch time.
func (s *scheduler) runTasks(ctx context.Context, n *nodeInfo, t Time, kind string, deps []*stage, tasks int, run func(*taskContext, int) error) error {
	if err := ensureAll(ctx, s, deps); err != nil {
		return err
	}
	if tasks == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, tasks)
	var wg sync.WaitGroup
	wg.Add(tasks)
	for p := 0; p < tasks; p++ {
		task := func() {
			defer wg.Done()
			if ctx.Err() != nil {
				errs[p] = ctx.Err()
				return
			}
			tc := &taskContext{ctx: ctx, current: n, time: t}
			errs[p] = runTask(tc, p, run)
			if errs[p] != nil {
				cancel()
			}
		}
		select {
		case s.work <- task:
		case <-ctx.Done():
			errs[p] = ctx.Err()
			wg.Done()
		}
	}
	wg.Wait()
	// Report the root cause, not the cancellations it triggered.
	var first error
	for _, err := range errs {
		if err == nil {
			continue
		}
		if _, ok := err.(*BatchError); ok {
			return err
		}
		if first == nil {
			first = err
		}
	}
	return first
}

func runTask(tc *taskContext, p int, run func(*taskContext, int) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &BatchError{Stream: tc.current.name, Time: tc.time, Err: fmt.Errorf("partition %d: %w", p, panicCause(r))}
		}
	}()
	if err := run(tc, p); err != nil {
		if _, ok := err.(*BatchError); ok {
			return err
		}
		return &BatchError{Stream: tc.current.name, Time: tc.time, Err: fmt.Errorf("partition %d: %w", p, err)}
	}
	return nil
}

// panicCause turns a recovered panic into the error it stands for: a bad
// record (Fail), an aborted read, or a crash in user code.
func panicCause(r any) error {
	if e, ok := r.(error); ok && isRecordError(e) {
		return e
	}
	if a, ok := r.(taskAbort); ok {
		return a.err
	}
	return &PanicError{Value: r, Stack: debug.Stack()}
}

// recordError is what Fail raises: a record an operator cannot process.
type recordError struct{ err error }

func (e recordError) Error() string { return e.err.Error() }
func (e recordError) Unwrap() []error {
	return []error{ErrBadRecord, e.err}
}

func isRecordError(err error) bool { _, ok := err.(recordError); return ok }

// taskAbort ends a task with an error from code that cannot return one (an
// input read inside a pipelined compute).
type taskAbort struct{ err error }

func abortTask(err error) { panic(taskAbort{err}) }

// Fail aborts the current task from inside a user function because a record
// cannot be processed. The batch fails with a BatchError that wraps
// ErrBadRecord and err and names the stream and the batch time; the job's
// FailurePolicy decides what happens next. Functions that cannot return an
// error (map, filter, ...) use it instead of a bare panic so that the error
// is reported as bad input rather than as a crash.
func Fail(err error) {
	panic(recordError{err: err})
}
