// Package e2e is Tributary's end-to-end suite, built with the tag e2e. It
// runs against whatever cluster KUBECONFIG names: it installs the Helm
// chart with a freshly built image, deploys MinIO beside it, and takes the
// sample word count (config/samples) through what users meet: a run whose
// outputs land in MinIO, driver and executor loss, scaling, suspend and
// resume, a last-state upgrade, a refused manifest and deletion under each
// retention policy. Outputs are checked batch by batch against a word count
// computed here from the generator's records, so "exactly once" and "state
// kept" are checked, not assumed.
//
// It needs:
//
//	KUBECONFIG        the cluster
//	E2E_IMAGE         Tributary's image (repository:tag), present on the nodes
//	E2E_MINIO_IMAGE   a MinIO image (hack/minio.sh image builds one)
//	KUBECTL, HELM     the binaries, when not on PATH
//	E2E_KEEP=1        leave what the suite installed, for a look afterwards
//
// make test-e2e-local runs it on hack/local-cluster.sh's cluster, and
// hack/kind-e2e.sh on kind.
package e2e
