package checks

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// render builds a kustomization as kubectl apply -k does.
func render(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	resmap, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	data, err := resmap.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	var out []*unstructured.Unstructured
	dec := k8syaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			break
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
	return out
}

// config/default installs the operator: every object it renders is
// accepted by a real API server, the operator's Deployment tells it its
// pod (to read its own image, which job pods run), and its RBAC names its
// ServiceAccount.
func TestConfigDefaultInstallsTheOperator(t *testing.T) {
	objs := render(t, filepath.Join("..", "..", "config", "default"))
	kinds := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		kinds[o.GetKind()+"/"+o.GetName()] = o
	}
	for _, want := range []string{
		"CustomResourceDefinition/streamingjobs.tributary.dev", "Namespace/tributary-system",
		"ServiceAccount/tributary-controller-manager", "ClusterRole/tributary-manager-role",
		"ClusterRoleBinding/tributary-manager-rolebinding", "Role/tributary-leader-election-role",
		"RoleBinding/tributary-leader-election-rolebinding", "Deployment/tributary-controller-manager",
		"Service/tributary-controller-manager-metrics",
	} {
		if kinds[want] == nil {
			t.Errorf("config/default renders no %s", want)
		}
	}
	var dep appsv1.Deployment
	if u := kinds["Deployment/tributary-controller-manager"]; u != nil {
		data, _ := u.MarshalJSON()
		_ = k8syaml.Unmarshal(data, &dep)
		c := dep.Spec.Template.Spec.Containers[0]
		if len(c.Env) != 2 || c.Env[0].Name != "POD_NAME" || c.Env[1].ValueFrom.FieldRef.FieldPath != "metadata.namespace" || dep.Namespace != "tributary-system" ||
			dep.Spec.Template.Spec.ServiceAccountName != "tributary-controller-manager" || !strings.Contains(strings.Join(c.Args, " "), "--leader-elect") {
			t.Errorf("the operator's Deployment: image %s, env %+v, namespace %s, service account %s, args %v",
				c.Image, c.Env, dep.Namespace, dep.Spec.Template.Spec.ServiceAccountName, c.Args)
		}
	}

	assets, _ := filepath.Abs(filepath.Join("..", "..", "bin", "k8s"))
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Setenv("KUBEBUILDER_ASSETS", assets)
	}
	env := &envtest.Environment{}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("envtest (make envtest builds it): %v", err)
	}
	defer func() { _ = env.Stop() }()
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// In the order kubectl applies them: namespaces and CRDs first.
	for _, first := range []bool{true, false} {
		for _, o := range objs {
			if (o.GetKind() == "Namespace" || o.GetKind() == "CustomResourceDefinition") != first {
				continue
			}
			if err := c.Patch(ctx, o, client.Apply, client.FieldOwner("kubectl"), client.ForceOwnership); err != nil {
				t.Errorf("applying %s %s: %v", o.GetKind(), o.GetName(), err)
			}
		}
	}

	// config/samples: jobs the API server accepts once the CRD is served.
	samples := render(t, filepath.Join("..", "..", "config", "samples"))
	for _, o := range samples {
		o.SetNamespace("default")
		var err error
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			if err = c.Patch(ctx, o, client.Apply, client.FieldOwner("kubectl"), client.ForceOwnership); err == nil {
				break
			}
		}
		if err != nil {
			t.Errorf("applying sample %s: %v", o.GetName(), err)
		}
	}
	if len(samples) == 0 {
		t.Error("config/samples renders nothing")
	}
}
