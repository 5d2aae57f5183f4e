// Package specs builds the objects the StreamingJob reconciler owns (the
// driver and executor pods, the driver's headless Service, the job's
// ConfigMap and RPC Secret) as pure functions of the job, so that each is
// covered by table tests and the reconciler only compares and applies
// them. Names and labels are here too: they are the contract between the
// objects.
package specs
