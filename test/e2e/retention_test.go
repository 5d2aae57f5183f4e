//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/api/v1alpha1"
)

// A job with retentionPolicy Delete leaves nothing at its checkpoint
// location when deleted but its savepoints (deletionRetainsCheckpoints
// covers Retain).
func TestDeletionWithTheDeletePolicy(t *testing.T) {
	const manifest = `apiVersion: tributary.dev/v1alpha1
kind: StreamingJob
metadata: {name: scratch}
spec:
  batchInterval: 1s
  executors: {replicas: 1}
  checkpoint:
    location: s3://` + bucket + `/scratch
    endpoint: ` + minioService + `.` + operatorNamespace + `.svc:9000
    tls: {disabled: true}
    credentialsSecret: {name: ` + credentialsSecret + `}
    retentionPolicy: Delete
  pipeline:
    sources:
      - name: lines
        generator: {recordsPerSecond: 100}
    streams:
      - {name: words, from: lines, split: {}}
      - {name: counts, from: words, countByValue: {}}
    outputs:
      - from: counts
        print: {records: 1}
`
	j := &jobUnderTest{name: "scratch"}
	if _, err := kubectlIn(manifest, "apply", "-n", jobNamespace, "-f", "-"); err != nil {
		t.Fatal(err)
	}
	j.waitFor(t, "running with a checkpoint", 3*time.Minute, func(job *v1alpha1.StreamingJob) bool {
		return running(job) && job.Status.LastCheckpoint != nil
	})
	if _, err := kubectl("annotate", "sj/scratch", "-n", jobNamespace, "tributary.dev/savepoint-trigger=before-deletion"); err != nil {
		t.Fatal(err)
	}
	job := j.waitFor(t, "savepointed", 2*time.Minute, func(job *v1alpha1.StreamingJob) bool { return job.Status.LastSavepoint != nil })
	savepoint := job.Status.LastSavepoint.Location

	if _, err := kubectl("delete", "sj/scratch", "-n", jobNamespace, "--timeout=3m"); err != nil {
		t.Fatal(err)
	}
	expectCollected(t, "scratch")
	keys, err := objects("scratch/")
	if err != nil {
		t.Fatal(err)
	}
	var kept, left []string
	for _, k := range keys {
		if strings.HasPrefix(k, "scratch/savepoints/") {
			kept = append(kept, k)
		} else {
			left = append(left, k)
		}
	}
	if len(left) > 0 {
		t.Errorf("retentionPolicy Delete left %d objects, such as %s", len(left), left[0])
	}
	if !strings.HasPrefix(savepoint, "s3://"+bucket+"/scratch/savepoints/") || len(kept) == 0 {
		t.Errorf("the savepoint %s was not kept (%d objects under savepoints/)", savepoint, len(kept))
	}
}
