// Package cluster runs the engine across processes: the driver's side
// (executor membership over gRPC sessions, liveness, the HTTP status,
// metrics and health endpoints) and the executor's side (registration,
// heartbeats, the block server). The protocol is in
// proto/tributary/cluster/v1; the design in docs/design/distributed.md.
package cluster
