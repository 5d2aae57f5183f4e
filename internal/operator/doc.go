// Package operator assembles the operator process: the controller-runtime
// manager with its cache scoped to the watched namespaces, leader election,
// metrics and probes, and the StreamingJob reconciler. cmd/manager wires
// flags to it.
package operator
