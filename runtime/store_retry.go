package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/tributary-dev/tributary/runtime/checkpoint"
)

// retryStore runs op until it succeeds, fails in a way no retry cures, or
// ctx ends. While the object store is unreachable or restarting the job
// stalls, backing off up to 5s, rather than failing batches it could finish
// a minute later. report (if not nil) hears of each outage, and nil once
// the store answers again.
func retryStore(ctx context.Context, log *slog.Logger, what string, op func() error, report func(error)) error {
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := op()
		if err == nil || !checkpoint.Transient(err) {
			if report != nil {
				report(nil) // the store answers: it is available
			}
			return err // the store's errors name the object
		}
		if report != nil {
			report(err)
		}
		log.Warn("object store unavailable; retrying", "op", what, "attempt", attempt, "in", backoff, "error", err)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (gave up: %w)", what, err, context.Cause(ctx))
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}
