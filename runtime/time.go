package runtime

import (
	"fmt"
	"time"
)

// Time is a batch time: milliseconds since the Unix epoch. Batch times are
// multiples of the batch interval, so they name a batch identically in every
// process and in checkpoints, independent of time zones and clock precision.
type Time int64

// TimeOf converts a wall-clock instant to a batch Time (truncating to ms).
func TimeOf(t time.Time) Time { return Time(t.UnixMilli()) }

// Std returns the instant as a time.Time.
func (t Time) Std() time.Time { return time.UnixMilli(int64(t)) }

// Add returns t+d, with d truncated to whole milliseconds.
func (t Time) Add(d time.Duration) Time { return t + Time(d.Milliseconds()) }

// Sub returns t-u as a duration.
func (t Time) Sub(u Time) time.Duration { return time.Duration(t-u) * time.Millisecond }

// String renders the time the way it appears in logs and errors: "1700000000000 ms".
func (t Time) String() string { return fmt.Sprintf("%d ms", int64(t)) }

// isMultiple reports whether d is a positive whole multiple of unit.
func isMultiple(d, unit time.Duration) bool {
	return unit > 0 && d > 0 && d%unit == 0
}
