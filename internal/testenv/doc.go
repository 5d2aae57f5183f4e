// Package testenv starts the project's envtest API server for test
// suites: the kube-apiserver and etcd that hack/setup-envtest.sh builds
// into bin/k8s (or KUBEBUILDER_ASSETS), with the StreamingJob CRD from
// config/crd/bases installed.
package testenv
