package checks

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
)

var chartDir = filepath.Join("..", "..", "charts", "tributary")

// helm runs bin/helm (hack/helm.sh builds it).
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin, _ := filepath.Abs(filepath.Join("..", "..", "bin", "helm"))
	if _, err := os.Stat(bin); err != nil {
		t.Fatal("no bin/helm: run hack/helm.sh")
	}
	var out, errOut bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if err != nil {
		return errOut.String(), err
	}
	return out.String(), nil
}

// byKind indexes objects as Kind/name.
func byKind(objs []*unstructured.Unstructured) map[string]*unstructured.Unstructured {
	out := map[string]*unstructured.Unstructured{}
	for _, u := range objs {
		out[u.GetKind()+"/"+u.GetName()] = u
	}
	return out
}

func deployment(t *testing.T, objs map[string]*unstructured.Unstructured, name string) appsv1.Deployment {
	t.Helper()
	var d appsv1.Deployment
	u := objs["Deployment/"+name]
	if u == nil {
		t.Fatalf("no Deployment %s among %d objects", name, len(objs))
	}
	data, _ := u.MarshalJSON()
	if err := k8syaml.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestTheChartLintsAndRendersItsValues(t *testing.T) {
	if out, err := helm(t, "lint", "--strict", chartDir); err != nil {
		t.Fatalf("helm lint: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		name  string
		set   []string
		check func(t *testing.T, objs map[string]*unstructured.Unstructured)
	}{
		{"defaults", nil, func(t *testing.T, objs map[string]*unstructured.Unstructured) {
			d := deployment(t, objs, "tributary")
			c := d.Spec.Template.Spec.Containers[0]
			args := strings.Join(c.Args, " ")
			if c.Image != "tributary:0.1.0" || c.Env[0].Value != c.Image || !strings.Contains(args, "--leader-elect=true") ||
				strings.Contains(args, "--namespaces") || !*c.SecurityContext.ReadOnlyRootFilesystem || !*d.Spec.Template.Spec.SecurityContext.RunAsNonRoot {
				t.Errorf("container: image %s, env %v, args %s", c.Image, c.Env, args)
			}
			for _, want := range []string{"ServiceAccount/tributary", "ClusterRole/tributary-manager", "ClusterRoleBinding/tributary-manager",
				"Role/tributary-leader-election", "RoleBinding/tributary-leader-election", "Service/tributary-metrics"} {
				if objs[want] == nil {
					t.Errorf("no %s", want)
				}
			}
			if objs["ServiceMonitor/tributary"] != nil {
				t.Error("a ServiceMonitor without asking")
			}
			if objs["CustomResourceDefinition/streamingjobs.tributary.dev"] == nil {
				t.Error("no CRD")
			}
		}},
		{"namespaces, scheduling, image", []string{"watchNamespaces={team-a,team-b}", "image.repository=registry.example/tributary", "image.tag=1.2.3",
			"nodeSelector.pool=ops", "tolerations[0].key=dedicated", "tolerations[0].operator=Exists", "resources.limits.memory=1Gi", "replicaCount=2"},
			func(t *testing.T, objs map[string]*unstructured.Unstructured) {
				d := deployment(t, objs, "tributary")
				s := d.Spec.Template.Spec
				c := s.Containers[0]
				if !strings.Contains(strings.Join(c.Args, " "), "--namespaces=team-a,team-b") || c.Image != "registry.example/tributary:1.2.3" ||
					c.Env[0].Value != c.Image || s.NodeSelector["pool"] != "ops" || len(s.Tolerations) != 1 || c.Resources.Limits.Memory().String() != "1Gi" ||
					*d.Spec.Replicas != 2 {
					t.Errorf("args %v, image %s, nodeSelector %v, tolerations %v, limits %v", c.Args, c.Image, s.NodeSelector, s.Tolerations, c.Resources.Limits)
				}
			}},
		{"service monitor", []string{"metrics.serviceMonitor.enabled=true", "metrics.serviceMonitor.labels.release=prom"},
			func(t *testing.T, objs map[string]*unstructured.Unstructured) {
				sm := objs["ServiceMonitor/tributary"]
				if sm == nil || sm.GetLabels()["release"] != "prom" {
					t.Errorf("ServiceMonitor %v", sm)
				}
			}},
		{"no metrics, no RBAC", []string{"metrics.enabled=false", "rbac.create=false", "serviceAccount.create=false", "serviceAccount.name=existing"},
			func(t *testing.T, objs map[string]*unstructured.Unstructured) {
				d := deployment(t, objs, "tributary")
				if objs["Service/tributary-metrics"] != nil || objs["ClusterRole/tributary-manager"] != nil || objs["ServiceAccount/existing"] != nil ||
					d.Spec.Template.Spec.ServiceAccountName != "existing" || !strings.Contains(strings.Join(d.Spec.Template.Spec.Containers[0].Args, " "), "--metrics-bind-address=0") {
					t.Errorf("objects %d, service account %s", len(objs), d.Spec.Template.Spec.ServiceAccountName)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"template", "tributary", chartDir, "--namespace", "tributary-system", "--include-crds"}
			for _, s := range tc.set {
				args = append(args, "--set", s)
			}
			out, err := helm(t, args...)
			if err != nil {
				t.Fatalf("helm template: %v\n%s", err, out)
			}
			tc.check(t, byKind(decode([]byte(out))))
		})
	}
	// values.schema.json refuses what the chart cannot use.
	for _, bad := range []string{"replicaCount=-1", "image.pullPolicy=Sometimes", "watchNamespaces[0]=Not_A_Namespace", "unknownValue=1"} {
		if out, err := helm(t, "template", "tributary", chartDir, "--set", bad); err == nil {
			t.Errorf("--set %s was accepted", bad)
		} else if !strings.Contains(out, "schema") {
			t.Errorf("--set %s: %s", bad, out)
		}
	}
}

// The chart's default rendering is accepted by a real API server.
func TestTheChartAppliesToAnAPIServer(t *testing.T) {
	out, err := helm(t, "template", "tributary", chartDir, "--namespace", "tributary-system", "--include-crds")
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, out)
	}
	c := startAPIServer(t)
	ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "tributary-system"}}}
	if err := c.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	applyAll(t, c, "helm", decode([]byte(out)))
}
