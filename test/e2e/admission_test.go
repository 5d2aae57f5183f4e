//go:build e2e

package e2e

import (
	"strings"
	"testing"
)

// kubectl apply refuses a bad manifest with the API server's words, naming
// each bad field, and nothing is created.
func TestABadManifestIsRejected(t *testing.T) {
	const bad = `apiVersion: tributary.dev/v1alpha1
kind: StreamingJob
metadata: {name: bad}
spec:
  batchInterval: 2h
  executors: {replicas: -1}
  pipeline:
    sources:
      - name: lines
        generator: {recordsPerSecond: 10}
    streams:
      - {name: words, from: lines, split: {}}
    outputs: []
`
	out, err := kubectlIn(bad, "apply", "-n", jobNamespace, "-f", "-")
	if err == nil {
		t.Fatalf("kubectl apply accepted the manifest: %s", out)
	}
	for _, want := range []string{`The StreamingJob "bad" is invalid`, "spec.executors.replicas",
		"batchInterval must be between 1ms and 1h", "spec.pipeline.outputs"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("kubectl's refusal does not say %q:\n%v", want, err)
		}
	}
	if out, err := kubectl("get", "sj", "bad", "-n", jobNamespace); err == nil || !strings.Contains(err.Error(), "NotFound") {
		t.Errorf("after the refusal, kubectl get sj bad: %q, %v", out, err)
	}
}
