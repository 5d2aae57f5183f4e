package runtime

import (
	"errors"
	"fmt"
)

// BatchError is the error of a batch that could not be computed or committed.
// It names the stream whose operator failed and the batch time, so that a bad
// record or a panicking user function can be traced to its step.
type BatchError struct {
	Stream string
	Time   Time
	Err    error
}

func (e *BatchError) Error() string {
	return fmt.Sprintf("batch %s: stream %q: %v", e.Time, e.Stream, e.Err)
}

func (e *BatchError) Unwrap() error { return e.Err }

// PanicError is a panic in a user function, recovered by the task that ran it.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic in user function: %v", e.Value) }

// ErrNoOutput is returned when a context is started with no output operation:
// nothing would ever be computed.
var ErrNoOutput = errors.New("the stream graph has no output operation")

// ErrStopped is returned by operations on a context that has stopped.
var ErrStopped = errors.New("streaming context stopped")

// ErrBadRecord marks errors caused by a record that an operator could not process.
var ErrBadRecord = errors.New("bad record")

// FailurePolicy says what a context does when a batch fails.
type FailurePolicy struct {
	// Mode is StopJob (the default) or RetryBatch.
	Mode FailureMode
	// MaxRetries bounds RetryBatch: after this many failed attempts of one
	// batch the job stops. Zero means 3.
	MaxRetries int
}

// FailureMode is a FailurePolicy's action.
type FailureMode string

const (
	// StopJob stops the context with the batch's error. Later batches are not
	// committed, so no output skips the failed batch.
	StopJob FailureMode = "stop"
	// RetryBatch recomputes the failed batch from its lineage, up to
	// MaxRetries times, before stopping the job. Outputs of later batches wait.
	RetryBatch FailureMode = "retry"
)

func (p FailurePolicy) maxAttempts() int {
	if p.Mode != RetryBatch {
		return 1
	}
	if p.MaxRetries <= 0 {
		return 1 + 3
	}
	return 1 + p.MaxRetries
}
