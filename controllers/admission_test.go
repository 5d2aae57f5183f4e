package controllers

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// apply creates a manifest as kubectl would, under a name of its own.
func apply(t *testing.T, manifest []byte, name string) error {
	t.Helper()
	var obj map[string]any
	if err := yaml.Unmarshal(manifest, &obj); err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: obj}
	u.SetName(name)
	u.SetNamespace("default")
	return k8s.Create(context.Background(), u)
}

// Every example manifest is accepted by the API server, CEL rules included.
func TestTheAPIServerAcceptsTheExamples(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "examples", "*.yaml"))
	if len(files) == 0 {
		t.Fatal("no examples found")
	}
	for i, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := apply(t, data, fmt.Sprintf("example-%d", i)); err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
		}
	}
}

// A bad spec is refused at admission by the CRD's schema and CEL rules,
// with a message that names what is wrong.
func TestTheAPIServerRefusesBadSpecs(t *testing.T) {
	const valid = `apiVersion: tributary.dev/v1alpha1
kind: StreamingJob
metadata: {name: x}
spec:
  batchInterval: 1s
  executors: {replicas: 2}
  pipeline:
    sources:
      - name: lines
        socket: {host: feed, port: 9999}
    streams:
      - name: words
        from: lines
        split: {}
      - name: counts
        from: words
        countByValueAndWindow: {window: 30s, slide: 2s}
    outputs:
      - from: counts
        print: {}
`
	if err := apply(t, []byte(valid), "valid"); err != nil {
		t.Fatalf("the valid manifest: %v", err)
	}
	for _, tc := range []struct {
		name, from, to, want string
	}{
		{"a window that is not a multiple of the batch", "window: 30s, slide: 2s", "window: 30500ms, slide: 2s",
			"window and slide must be multiples of batchInterval"},
		{"a batch interval out of range", "batchInterval: 1s", "batchInterval: 2h", "batchInterval must be between 1ms and 1h"},
		{"a source of two kinds", "socket: {host: feed, port: 9999}", "socket: {host: feed, port: 9999}\n        generator: {recordsPerSecond: 1}",
			"a source sets exactly one of socket, directory, files, generator"},
		{"a stream with two operators", "        split: {}\n", "        split: {}\n        filter: \"true\"\n", "each stream applies exactly one operator"},
		{"a negative executor count", "replicas: 2", "replicas: -1", "spec.executors.replicas"},
		{"a port out of range", "port: 9999", "port: 70000", "spec.pipeline.sources[0].socket.port"},
		{"no outputs", "    outputs:\n      - from: counts\n        print: {}\n", "    outputs: []\n", "spec.pipeline.outputs"},
		{"a bad stream name", "name: words\n", "name: \"two words\"\n", "spec.pipeline.streams[0].name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := strings.Replace(valid, tc.from, tc.to, 1)
			if bad == valid {
				t.Fatalf("the test's edit %q does not apply", tc.from)
			}
			err := apply(t, []byte(bad), "bad")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("the API server answered %v; want a refusal mentioning %q", err, tc.want)
			}
		})
	}
}

// kubectl get shows the columns users look for, and kubectl scale works.
func TestTheCRDHasPrinterColumnsAndScale(t *testing.T) {
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Name: "streamingjobs.tributary.dev"}, crd); err != nil {
		t.Fatal(err)
	}
	v := crd.Spec.Versions[0]
	var names []string
	for _, c := range v.AdditionalPrinterColumns {
		if c.Priority == 0 {
			names = append(names, c.Name)
		}
	}
	if got := strings.Join(names, ","); got != "Phase,Executors,Last Batch,Lag,Restarts,Age" {
		t.Errorf("printer columns %s", got)
	}
	if s := v.Subresources; s == nil || s.Status == nil || s.Scale == nil || s.Scale.SpecReplicasPath != ".spec.executors.replicas" ||
		s.Scale.LabelSelectorPath == nil {
		t.Errorf("subresources %+v", s)
	}
}
