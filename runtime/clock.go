package runtime

import (
	"context"
	"sync"
	"time"
)

// Clock is the source of batch times. Production uses [RealClock]; tests use
// a [ManualClock] so that each batch is cut exactly when the test says.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// WaitUntil blocks until Now() >= t or ctx is done, and returns ctx.Err()
	// in the latter case.
	WaitUntil(ctx context.Context, t time.Time) error
}

// RealClock is the system clock.
type RealClock struct{}

// Now implements Clock.
func (RealClock) Now() time.Time { return time.Now() }

// WaitUntil implements Clock.
func (RealClock) WaitUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ManualClock only moves when Advance or Set is called. Its zero value starts
// at the Unix epoch.
type ManualClock struct {
	mu      sync.Mutex
	now     time.Time
	changed chan struct{} // closed and replaced on every move
}

// NewManualClock returns a clock that reads start until it is advanced.
func NewManualClock(start time.Time) *ManualClock {
	return &ManualClock{now: start, changed: make(chan struct{})}
}

func (c *ManualClock) init() {
	if c.changed == nil {
		c.changed = make(chan struct{})
		if c.now.IsZero() {
			c.now = time.UnixMilli(0)
		}
	}
}

// Now implements Clock.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.init()
	return c.now
}

// Advance moves the clock forward by d.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.init()
	c.now = c.now.Add(d)
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

// WaitUntil implements Clock.
func (c *ManualClock) WaitUntil(ctx context.Context, t time.Time) error {
	for {
		c.mu.Lock()
		c.init()
		if !c.now.Before(t) {
			c.mu.Unlock()
			return ctx.Err()
		}
		changed := c.changed
		c.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
