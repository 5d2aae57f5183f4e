// Package runtime is Tributary's micro-batch engine: Discretized Streams.
//
// A [Context] cuts the live input into batches every batch interval. For each
// batch time t every stream in the graph yields one immutable, partitioned
// dataset, computed deterministically from its parents' datasets for t and
// earlier (its lineage). Recomputing a dataset from the same inputs gives the
// same records in the same partitions, which is what makes recovery by
// recomputation possible.
//
// The package owns:
//   - the stream graph and its operators, one small type per file (map.go,
//     window.go, map_with_state.go, ...), each knowing its parents and how to
//     compute its dataset for time t;
//   - sources (source.go, receiver.go) and outputs (print, files, foreach hooks);
//   - the scheduler: stages split at shuffles, tasks run on N worker
//     goroutines ("local[N]"), independent work of batch t+1 may start before
//     batch t finishes, and outputs commit in batch order;
//   - per-batch metrics and the failure policy;
//   - the function registry and graph descriptions ([GraphSpec]), so that a
//     graph can be described as data and rebuilt in another process;
//   - checkpoints (checkpointing.go, recovery.go, checkpoint_data.go): what a
//     context saves to a [checkpoint.Store] and how a new driver resumes from
//     it; see docs/design/checkpoints.md.
//
// The SDK is generic: Stream[T] and pair streams Stream[Pair[K, V]]. The
// declarative manifests use the same operators instantiated with any, so there
// is one engine for both.
package runtime
