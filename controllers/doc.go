// Package controllers holds the StreamingJob reconciler: it keeps a job's
// driver and executor pods running, restarts a failed driver after a
// backoff, and derives the job's status. The objects it owns are built by
// the pure functions of package specs.
package controllers
