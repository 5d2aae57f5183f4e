package testenv

import (
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Start starts an API server with the CRD installed. repoRoot is the
// repository's root relative to the calling package's directory, where go
// test runs it. stop ends the server.
func Start(repoRoot string) (cfg *rest.Config, stop func() error, err error) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		assets, err := filepath.Abs(filepath.Join(repoRoot, "bin", "k8s"))
		if err != nil {
			return nil, nil, err
		}
		if _, err := os.Stat(filepath.Join(assets, "kube-apiserver")); err != nil {
			return nil, nil, fmt.Errorf("no kube-apiserver for envtest in %s: run make envtest (hack/setup-envtest.sh), or set KUBEBUILDER_ASSETS", assets)
		}
		if err := os.Setenv("KUBEBUILDER_ASSETS", assets); err != nil {
			return nil, nil, err
		}
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(repoRoot, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	if cfg, err = env.Start(); err != nil {
		return nil, nil, fmt.Errorf("starting envtest: %w", err)
	}
	return cfg, env.Stop, nil
}
