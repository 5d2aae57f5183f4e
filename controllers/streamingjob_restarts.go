package controllers

import (
	"time"

	"github.com/tributary-dev/tributary/api/v1alpha1"
)

// restartPolicy is a job's RestartPolicy with its defaults filled in.
type restartPolicy struct {
	maxRestarts    int32 // negative: unlimited
	initialBackoff time.Duration
	maxBackoff     time.Duration
	resetAfter     time.Duration
}

func restartPolicyOf(p v1alpha1.RestartPolicy) restartPolicy {
	out := restartPolicy{maxRestarts: -1, initialBackoff: time.Second, maxBackoff: 5 * time.Minute, resetAfter: 10 * time.Minute}
	if p.MaxRestarts != nil {
		out.maxRestarts = *p.MaxRestarts
	}
	if p.InitialBackoff != nil && p.InitialBackoff.Duration > 0 {
		out.initialBackoff = p.InitialBackoff.Duration
	}
	if p.MaxBackoff != nil && p.MaxBackoff.Duration > 0 {
		out.maxBackoff = p.MaxBackoff.Duration
	}
	out.maxBackoff = max(out.maxBackoff, out.initialBackoff)
	if p.ResetAfter != nil && p.ResetAfter.Duration > 0 {
		out.resetAfter = p.ResetAfter.Duration
	}
	return out
}

// backoff is how long to wait before the restart that follows restarts
// earlier ones: the initial backoff, doubling, capped.
func (p restartPolicy) backoff(restarts int32) time.Duration {
	d := p.initialBackoff
	for i := int32(0); i < restarts && d < p.maxBackoff; i++ {
		d *= 2
	}
	return min(d, p.maxBackoff)
}

// exhausted reports whether a driver that failed after restarts earlier
// restarts may not be restarted again: the job fails.
func (p restartPolicy) exhausted(restarts int32) bool {
	return p.maxRestarts >= 0 && restarts >= p.maxRestarts
}

// stable reports whether a driver running since runningSince has run long
// enough for the restart count to start over.
func (p restartPolicy) stable(runningSince, now time.Time) bool {
	return !runningSince.IsZero() && now.Sub(runningSince) >= p.resetAfter
}
