package checks

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// decode splits a multi-document manifest into its objects.
func decode(data []byte) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	dec := k8syaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			return out
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}

// startAPIServer runs a real kube-apiserver and etcd (bin/k8s, which make
// envtest builds) until the test ends.
func startAPIServer(t *testing.T) client.Client {
	t.Helper()
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		assets, _ := filepath.Abs(filepath.Join("..", "..", "bin", "k8s"))
		t.Setenv("KUBEBUILDER_ASSETS", assets)
	}
	env := &envtest.Environment{}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("envtest (make envtest builds it): %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// applyAll applies objects with server-side apply as owner, namespaces and
// CRDs first, as kubectl and helm do.
func applyAll(t *testing.T, c client.Client, owner string, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, first := range []bool{true, false} {
		for _, o := range objs {
			if (o.GetKind() == "Namespace" || o.GetKind() == "CustomResourceDefinition") != first {
				continue
			}
			if err := c.Patch(context.Background(), o, client.Apply, client.FieldOwner(owner), client.ForceOwnership); err != nil {
				t.Errorf("applying %s %s: %v", o.GetKind(), o.GetName(), err)
			}
		}
	}
}
