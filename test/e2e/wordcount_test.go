//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/tributary-dev/tributary/api/v1alpha1"
	"github.com/tributary-dev/tributary/runtime"
)

// The sample word count, applied as a user applies it, taken through the
// failures and changes of a job's life in order. Every step ends by
// checking every batch committed so far against the failure-free
// expectation, so a batch lost or counted twice at any step fails it.
func TestWordCount(t *testing.T) {
	j := sampleJob(t)
	for _, step := range []struct {
		name string
		run  func(*testing.T, *jobUnderTest)
	}{
		{"runs and writes to MinIO", runsAndWritesOutputs},
		{"driver loss", driverLoss},
		{"executor loss", executorLoss},
		{"scaling", scaling},
		{"suspend and resume", suspendAndResume},
		{"last-state upgrade", lastStateUpgrade},
		{"deletion retains checkpoints", deletionRetainsCheckpoints},
	} {
		if !t.Run(step.name, func(t *testing.T) { step.run(t, j) }) {
			t.Fatalf("step %q failed; the steps after it build on it", step.name)
		}
	}
}

// jobUnderTest is a word count job and what the suite knows of it.
type jobUnderTest struct {
	name     string
	manifest []byte // the sample, as first applied
	output   string // the totals output's prefix in the bucket
	location string // the checkpoint location's prefix in the bucket
	expect   *wordCount
	verified int // committed batches checked so far
}

func sampleJob(t *testing.T) *jobUnderTest {
	manifest, err := os.ReadFile(filepath.Join(repoRoot, "config", "samples", "wordcount.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var job v1alpha1.StreamingJob
	if err := yaml.UnmarshalStrict(manifest, &job); err != nil {
		t.Fatalf("the sample: %v", err)
	}
	gen := job.Spec.Pipeline.Sources[0].Generator
	out := job.Spec.Pipeline.Outputs[0].Files
	if gen == nil || gen.Count != 0 || out == nil || !strings.HasPrefix(out.Path, "s3://"+bucket+"/") ||
		!strings.HasPrefix(job.Spec.Checkpoint.Location, "s3://"+bucket+"/") {
		t.Fatalf("the suite expects the sample to be an unbounded generator's word count written to s3://%s/", bucket)
	}
	size := int(gen.RecordSize)
	if size == 0 {
		size = 100
	}
	return &jobUnderTest{
		name:     job.Name,
		manifest: manifest,
		output:   strings.TrimPrefix(out.Path, "s3://"+bucket+"/"),
		location: strings.TrimPrefix(job.Spec.Checkpoint.Location, "s3://"+bucket+"/"),
		expect: &wordCount{recordsPerSecond: gen.RecordsPerSecond, recordSize: size, seed: uint64(gen.Seed),
			interval: job.Spec.BatchInterval.Duration},
	}
}

func (j *jobUnderTest) get(t *testing.T) *v1alpha1.StreamingJob {
	t.Helper()
	job := &v1alpha1.StreamingJob{}
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: jobNamespace, Name: j.name}, job); err != nil {
		t.Fatal(err)
	}
	return job
}

// waitFor waits until the job's status satisfies cond.
func (j *jobUnderTest) waitFor(t *testing.T, what string, timeout time.Duration, cond func(*v1alpha1.StreamingJob) bool) *v1alpha1.StreamingJob {
	t.Helper()
	var job *v1alpha1.StreamingJob
	eventually(t, j.name+" "+what, timeout, func() (bool, error) {
		job = &v1alpha1.StreamingJob{}
		if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: jobNamespace, Name: j.name}, job); err != nil {
			return false, err
		}
		return cond(job), fmt.Errorf("phase %s, executors %q, generation %d observed %d: %s", job.Status.Phase,
			job.Status.Executors.Summary, job.Generation, job.Status.ObservedGeneration, job.Status.Message)
	})
	return job
}

func running(job *v1alpha1.StreamingJob) bool {
	return job.Status.Phase == v1alpha1.PhaseRunning && job.Status.ObservedGeneration == job.Generation &&
		job.Status.Executors.Desired > 0 && job.Status.Executors.Ready == job.Status.Executors.Desired
}

// verifyOutputs waits until more batches than before, at least `more`, are
// committed, then checks all of them against the expectation. It returns
// the totals by batch time.
func (j *jobUnderTest) verifyOutputs(t *testing.T, more int) map[runtime.Time]map[string]int64 {
	t.Helper()
	var batches []runtime.CommittedBatch
	eventually(t, fmt.Sprintf("%d more committed batches of %s", more, j.output), 3*time.Minute, func() (bool, error) {
		var err error
		batches, err = committed(j.output)
		return err == nil && len(batches) >= j.verified+more, fmt.Errorf("%d batches (%v)", len(batches), err)
	})
	totals, err := j.expect.check(batches)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d committed batches, each as a failure-free run's", len(batches))
	j.verified = len(batches)
	return totals
}

func (j *jobUnderTest) pod(t *testing.T, name string) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{}
	err := k8s.Get(context.Background(), types.NamespacedName{Namespace: jobNamespace, Name: name}, pod)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return pod
}

// pods are the job's pods of a role that are not being deleted.
func (j *jobUnderTest) pods(t *testing.T, role string) []corev1.Pod {
	t.Helper()
	var list corev1.PodList
	if err := k8s.List(context.Background(), &list, client.InNamespace(jobNamespace),
		client.MatchingLabels{"tributary.dev/job": j.name, "tributary.dev/role": role}); err != nil {
		t.Fatal(err)
	}
	var live []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			live = append(live, p)
		}
	}
	return live
}

func runsAndWritesOutputs(t *testing.T, j *jobUnderTest) {
	out, err := kubectlIn(string(j.manifest), "apply", "-n", jobNamespace, "-f", "-")
	if err != nil || !strings.Contains(out, "streamingjob.tributary.dev/"+j.name+" created") {
		t.Fatalf("kubectl apply: %q, %v", out, err)
	}
	j.waitFor(t, "running with a checkpoint", 3*time.Minute, func(job *v1alpha1.StreamingJob) bool {
		return running(job) && job.Status.LastCheckpoint != nil && job.Status.LastBatchTime != nil
	})
	j.verifyOutputs(t, 5)

	out, err = kubectl("get", "sj", j.name, "-n", jobNamespace)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "NAME PHASE EXECUTORS LAST BATCH LAG RESTARTS AGE" {
		t.Fatalf("kubectl get sj:\n%s", out)
	}
	// LAST BATCH is shown as an age and LAG as a duration, such as 600ms.
	row := strings.Fields(lines[1])
	if len(row) != 7 || row[0] != j.name || row[1] != "Running" || row[2] != "2/2" || !strings.HasSuffix(row[3], "s") ||
		!strings.HasSuffix(row[4], "s") || row[5] != "0" {
		t.Fatalf("kubectl get sj:\n%s", out)
	}
}

func driverLoss(t *testing.T, j *jobUnderTest) {
	before := j.get(t)
	driver := j.pod(t, j.name+"-driver")
	// Forced, as a node that vanished: the old driver may still run while
	// the new one starts, and the checkpoint's epoch keeps it from
	// committing.
	if _, err := kubectl("delete", "pod", "-n", jobNamespace, driver.Name, "--grace-period=0", "--force"); err != nil {
		t.Fatal(err)
	}
	j.waitFor(t, "running a new driver", 3*time.Minute, func(job *v1alpha1.StreamingJob) bool {
		p := j.pod(t, driver.Name)
		return running(job) && p != nil && p.UID != driver.UID && job.Status.Restarts > before.Status.Restarts
	})
	if log := podLog(driver.Name, 200); !strings.Contains(log, "recovered from checkpoint") {
		t.Errorf("the new driver did not recover from the checkpoint:\n%s", log)
	}
	j.verifyOutputs(t, 5)
}

func executorLoss(t *testing.T, j *jobUnderTest) {
	before := j.get(t)
	driver, lost := j.pod(t, j.name+"-driver"), j.pod(t, j.name+"-exec-1")
	if _, err := kubectl("delete", "pod", "-n", jobNamespace, lost.Name, "--grace-period=0", "--force"); err != nil {
		t.Fatal(err)
	}
	j.waitFor(t, "running with a replaced executor", 3*time.Minute, func(job *v1alpha1.StreamingJob) bool {
		p := j.pod(t, lost.Name)
		return running(job) && p != nil && p.UID != lost.UID && job.Status.Executors.Summary == "2/2"
	})
	j.verifyOutputs(t, 5)
	after := j.get(t)
	if d := j.pod(t, driver.Name); d == nil || d.UID != driver.UID || after.Status.Restarts != before.Status.Restarts {
		t.Errorf("losing an executor restarted the job: restarts %d -> %d", before.Status.Restarts, after.Status.Restarts)
	}
}

func scaling(t *testing.T, j *jobUnderTest) {
	driver := j.pod(t, j.name+"-driver")
	for _, replicas := range []int{4, 2} {
		out, err := kubectl("scale", "sj/"+j.name, "-n", jobNamespace, fmt.Sprintf("--replicas=%d", replicas))
		if err != nil || !strings.Contains(out, "scaled") {
			t.Fatalf("kubectl scale: %q, %v", out, err)
		}
		summary := fmt.Sprintf("%d/%d", replicas, replicas)
		j.waitFor(t, "running "+summary+" executors", 3*time.Minute, func(job *v1alpha1.StreamingJob) bool {
			return running(job) && job.Status.Executors.Summary == summary && len(j.pods(t, "executor")) == replicas
		})
		j.verifyOutputs(t, 3)
	}
	if d := j.pod(t, driver.Name); d == nil || d.UID != driver.UID {
		t.Error("scaling replaced the driver")
	}
}

func suspendAndResume(t *testing.T, j *jobUnderTest) {
	suspend := func(on bool) {
		t.Helper()
		if _, err := kubectl("patch", "sj/"+j.name, "-n", jobNamespace, "--type=merge",
			"-p", fmt.Sprintf(`{"spec":{"suspend":%t}}`, on)); err != nil {
			t.Fatal(err)
		}
	}
	suspend(true)
	j.waitFor(t, "suspended with no pods", 3*time.Minute, func(job *v1alpha1.StreamingJob) bool {
		return job.Status.Phase == v1alpha1.PhaseSuspended && len(j.pods(t, "driver"))+len(j.pods(t, "executor")) == 0
	})
	// The driver stopped at a batch boundary after a final checkpoint: what
	// it committed is whole, and nothing commits while it is suspended.
	j.verifyOutputs(t, 0)
	time.Sleep(3 * j.expect.interval)
	if batches, err := committed(j.output); err != nil || len(batches) != j.verified {
		t.Fatalf("while suspended: %d batches, %d before (%v)", len(batches), j.verified, err)
	}

	suspend(false)
	j.waitFor(t, "running again", 3*time.Minute, running)
	// The expectation counts from the first record: totals that started
	// again from zero after resuming fail it.
	j.verifyOutputs(t, 5)
}

// The upgrade adds a stream and an output. With last-state the totals go on
// from the checkpoint (verifyOutputs would see them restart), and the new
// output starts with them.
func lastStateUpgrade(t *testing.T, j *jobUnderTest) {
	var job v1alpha1.StreamingJob
	if err := yaml.Unmarshal(j.manifest, &job); err != nil {
		t.Fatal(err)
	}
	if job.Spec.UpgradeMode != "" && job.Spec.UpgradeMode != v1alpha1.UpgradeLastState {
		t.Fatalf("the sample's upgradeMode is %s", job.Spec.UpgradeMode)
	}
	sWords := `key.startsWith("s")`
	job.Spec.Pipeline.Streams = append(job.Spec.Pipeline.Streams, v1alpha1.Stream{Name: "sWords", From: "totals", Filter: &sWords})
	newOutput := "wordcount-out/s-words"
	job.Spec.Pipeline.Outputs = append(job.Spec.Pipeline.Outputs,
		v1alpha1.Output{From: "sWords", Files: &v1alpha1.FilesSink{Path: "s3://" + bucket + "/" + newOutput}})
	upgraded, err := yaml.Marshal(&job)
	if err != nil {
		t.Fatal(err)
	}
	before := j.get(t)
	driver := j.pod(t, j.name+"-driver")
	if out, err := kubectlIn(string(upgraded), "apply", "-n", jobNamespace, "-f", "-"); err != nil || !strings.Contains(out, "configured") {
		t.Fatalf("kubectl apply: %q, %v", out, err)
	}
	j.waitFor(t, "running the new generation", 3*time.Minute, func(job *v1alpha1.StreamingJob) bool {
		p := j.pod(t, driver.Name)
		return running(job) && job.Generation > before.Generation && job.Status.Deployed.Generation == job.Generation &&
			p != nil && p.UID != driver.UID
	})
	if log := podLog(driver.Name, 200); !strings.Contains(log, "recovered from checkpoint") {
		t.Errorf("the upgraded driver did not recover from the checkpoint:\n%s", log)
	}
	totals := j.verifyOutputs(t, 5)

	var sBatches []runtime.CommittedBatch
	eventually(t, "batches of the new output", 2*time.Minute, func() (bool, error) {
		sBatches, err = committed(newOutput)
		return err == nil && len(sBatches) >= 3, fmt.Errorf("%d batches (%v)", len(sBatches), err)
	})
	for _, b := range sBatches {
		got, err := pairs(b)
		if err != nil {
			t.Fatal(err)
		}
		all, ok := totals[b.Time]
		if !ok {
			continue // committed after the totals were read
		}
		want := maps.Clone(all)
		maps.DeleteFunc(want, func(word string, _ int64) bool { return !strings.HasPrefix(word, "s") })
		if !maps.Equal(got, want) {
			t.Fatalf("the new output's batch %s is not the totals' words starting with s:\n%s", b.Time, diff(got, want))
		}
	}
}

func deletionRetainsCheckpoints(t *testing.T, j *jobUnderTest) {
	if _, err := kubectl("delete", "sj/"+j.name, "-n", jobNamespace, "--timeout=3m"); err != nil {
		t.Fatal(err)
	}
	expectCollected(t, j.name)
	keys, err := objects(j.location + "/metadata/")
	if err != nil || len(keys) == 0 {
		t.Fatalf("retentionPolicy Retain: %d metadata checkpoints left (%v)", len(keys), err)
	}
	// What was committed stays, whole.
	if batches, err := committed(j.output); err != nil || len(batches) < j.verified {
		t.Fatalf("after deletion: %d batches, %d before (%v)", len(batches), j.verified, err)
	}
}

// expectCollected waits until nothing the job owned is left: the garbage
// collector removes its pods, Service, Secret and ConfigMap.
func expectCollected(t *testing.T, job string) {
	t.Helper()
	selector := client.MatchingLabels{"tributary.dev/job": job}
	eventually(t, job+"'s objects collected", 3*time.Minute, func() (bool, error) {
		left := map[string]int{}
		for kind, list := range map[string]client.ObjectList{"pods": &corev1.PodList{}, "services": &corev1.ServiceList{},
			"secrets": &corev1.SecretList{}, "configmaps": &corev1.ConfigMapList{}} {
			if err := k8s.List(context.Background(), list, client.InNamespace(jobNamespace), selector); err != nil {
				return false, err
			}
			if n := meta.LenList(list); n > 0 {
				left[kind] = n
			}
		}
		return len(left) == 0, fmt.Errorf("left: %v", left)
	})
}
