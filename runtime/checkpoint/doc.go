// Package checkpoint owns where checkpoints live: a small object-store
// interface (Store) with two implementations, a local directory (the
// default for tributary run) and S3-compatible storage through minio-go,
// and the choice between them from a manifest's checkpoint section (Open).
// Every write is atomic, so a reader sees a whole object or none, and
// Create writes only if the object does not exist yet, which is how a
// stale driver is fenced off.
package checkpoint
