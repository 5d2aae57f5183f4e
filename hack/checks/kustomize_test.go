package checks

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
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
	return decode(data)
}

// config/default installs the operator: every object it renders is
// accepted by a real API server, the operator's Deployment tells it its
// pod (to read its own image, which job pods run), and its RBAC names its
// ServiceAccount.
func TestConfigDefaultInstallsTheOperator(t *testing.T) {
	objs := render(t, filepath.Join("..", "..", "config", "default"))
	kinds := byKind(objs)
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
	dep := deployment(t, kinds, "tributary-controller-manager")
	c := dep.Spec.Template.Spec.Containers[0]
	if len(c.Env) != 2 || c.Env[0].Name != "POD_NAME" || c.Env[1].ValueFrom.FieldRef.FieldPath != "metadata.namespace" || dep.Namespace != "tributary-system" ||
		dep.Spec.Template.Spec.ServiceAccountName != "tributary-controller-manager" || !strings.Contains(strings.Join(c.Args, " "), "--leader-elect") {
		t.Errorf("the operator's Deployment: image %s, env %+v, namespace %s, service account %s, args %v",
			c.Image, c.Env, dep.Namespace, dep.Spec.Template.Spec.ServiceAccountName, c.Args)
	}

	api := startAPIServer(t)
	ctx := context.Background()
	applyAll(t, api, "kubectl", objs)

	// config/samples: jobs the API server accepts once the CRD is served.
	samples := render(t, filepath.Join("..", "..", "config", "samples"))
	for _, o := range samples {
		o.SetNamespace("default")
		var err error
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			if err = api.Patch(ctx, o, client.Apply, client.FieldOwner("kubectl"), client.ForceOwnership); err == nil {
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
