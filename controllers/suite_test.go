package controllers

import (
	"fmt"
	"os"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tributary-dev/tributary/api/v1alpha1"
	"github.com/tributary-dev/tributary/internal/testenv"
)

// The package's tests run against a real kube-apiserver and etcd (envtest)
// with the CRD that make manifests generates: hack/setup-envtest.sh builds
// them into bin/k8s, which KUBEBUILDER_ASSETS names (make test sets it).
var (
	k8s        client.Client
	restCfg    *rest.Config
	testScheme *runtime.Scheme
)

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	cfg, stop, err := testenv.Start("..")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	restCfg = cfg
	defer func() {
		if err := stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping envtest:", err)
		}
	}()
	scheme := runtime.NewScheme()
	testScheme = scheme
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if k8s, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		return 1
	}
	return m.Run()
}
