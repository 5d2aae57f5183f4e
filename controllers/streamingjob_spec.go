package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/tributary-dev/tributary/api/v1alpha1"
	"github.com/tributary-dev/tributary/controllers/specs"
	"github.com/tributary-dev/tributary/runtime/pipeline"
)

// Annotations on the pods: what each was built from, so that a changed
// spec is noticed on pods that already run.
const (
	annotationSpecHash = "tributary.dev/spec-hash"
	annotationPodHash  = "tributary.dev/pod-hash"
	// annotationSavepointTrigger takes a savepoint when it changes, as
	// spec.savepointTrigger does.
	annotationSavepointTrigger = "tributary.dev/savepoint-trigger"
)

// jobFields is the part of a spec that the driver runs: a change to any of
// it restarts the job. The rest (replicas, resources, templates, policies)
// is applied to running pods, or to pods rolled without losing state.
func jobFields(spec v1alpha1.StreamingJobSpec) any {
	ck := spec.Checkpoint
	ck.RetentionPolicy = ""
	return struct {
		BatchInterval string
		Pipeline      v1alpha1.Pipeline
		Checkpoint    v1alpha1.CheckpointSpec
		Parallelism   int32
		FailurePolicy v1alpha1.FailurePolicy
		Image         string
		RestoreFrom   string
	}{spec.BatchInterval.Duration.String(), spec.Pipeline, ck, spec.Parallelism, spec.FailurePolicy, spec.Image, spec.RestoreFrom}
}

func hashOf(v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("hashing %T: %v", v, err)) // API types always encode
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:8])
}

// reconcileSpec decides what the pods run: the job's spec, or while an
// upgrade is rolled back, the last spec that ran well (with the current
// replicas and policies). A spec that only the operator can judge (its
// pipeline's CEL, say) stops here with a Degraded condition, and no pods
// are changed: the operator never crash-loops on a bad spec.
func (r *StreamingJobReconciler) reconcileSpec(ctx context.Context, s *scope) error {
	job := s.job
	d := &job.Status.Deployed
	s.spec = job.Spec
	specHash := hashOf(jobFields(job.Spec))
	if d.RolledBackFrom != "" && d.RolledBackFrom != specHash {
		d.RolledBackFrom = "" // the spec changed since: try it
	}
	if d.RolledBackFrom != "" {
		var stable v1alpha1.StreamingJobSpec
		if err := json.Unmarshal([]byte(d.StableSpec), &stable); err == nil {
			s.spec = withOperationalFields(stable, job.Spec)
		}
	}
	s.specHash = hashOf(jobFields(s.spec))
	if d.SpecHash != "" && d.SpecHash != specHash && d.Failed != "" {
		d.Failed = "" // a new spec gets a new chance
		job.Status.Restarts = 0
	}
	if err := checkRunnable(job, s.spec); err != nil {
		s.facts.invalidSpec = err.Error()
		s.stop = s.driver == nil || s.driver.Annotations[annotationSpecHash] == s.specHash
		if !s.stop {
			// Keep running what runs: an upgrade to an invalid spec is not
			// started, and the running job is still looked after.
			running, err := r.deployedSpec(ctx, job)
			if err != nil {
				return err
			}
			s.spec = withOperationalFields(running, job.Spec)
			s.specHash = s.driver.Annotations[annotationSpecHash]
		}
	}
	return nil
}

// deployedSpec is the spec the running driver was started with, as its
// ConfigMap holds it.
func (r *StreamingJobReconciler) deployedSpec(ctx context.Context, job *v1alpha1.StreamingJob) (v1alpha1.StreamingJobSpec, error) {
	var cm corev1.ConfigMap
	if err := r.Get(ctx, client.ObjectKey{Namespace: job.Namespace, Name: specs.JobConfigMapName(job)}, &cm); err != nil {
		return v1alpha1.StreamingJobSpec{}, fmt.Errorf("reading the running manifest of job %s: %w", job.Name, err)
	}
	var running v1alpha1.StreamingJob
	if err := yaml.Unmarshal([]byte(cm.Data[specs.JobFileKey]), &running); err != nil {
		return v1alpha1.StreamingJobSpec{}, fmt.Errorf("decoding the running manifest of job %s: %w", job.Name, err)
	}
	return running.Spec, nil
}

// withOperationalFields takes the job fields of from and the rest of cur.
func withOperationalFields(from, cur v1alpha1.StreamingJobSpec) v1alpha1.StreamingJobSpec {
	out := cur
	out.BatchInterval, out.Pipeline, out.Checkpoint = from.BatchInterval, from.Pipeline, from.Checkpoint
	out.Checkpoint.RetentionPolicy = cur.Checkpoint.RetentionPolicy
	out.Parallelism, out.FailurePolicy, out.Image, out.RestoreFrom = from.Parallelism, from.FailurePolicy, from.Image, from.RestoreFrom
	return out
}

// checkRunnable is what admission cannot check: the pipeline's CEL and
// graph, and the pod templates, exactly as the driver will see them.
func checkRunnable(job *v1alpha1.StreamingJob, spec v1alpha1.StreamingJobSpec) error {
	manifest := v1alpha1.StreamingJob{TypeMeta: job.TypeMeta, ObjectMeta: job.ObjectMeta, Spec: spec}
	manifest.APIVersion, manifest.Kind = v1alpha1.GroupVersion.String(), "StreamingJob"
	manifest.ManagedFields = nil
	data, err := yaml.Marshal(&manifest)
	if err != nil {
		return err
	}
	if _, err := pipeline.Parse(data); err != nil {
		return err
	}
	probe := job.DeepCopy()
	probe.Spec = spec
	if _, err := specs.DriverPod(probe, "probe", specs.Restore{}); err != nil {
		return err
	}
	if _, err := specs.ExecutorPod(probe, 0, "probe"); err != nil {
		return err
	}
	return nil
}

// podHash identifies a built pod: its spec, labels and annotations.
func podHash(pod *corev1.Pod) string { return hashOf([]any{pod.Labels, pod.Annotations, pod.Spec}) }

// executorIndex is an executor pod's index, from its label.
func executorIndex(pod *corev1.Pod) (int, bool) {
	n, err := strconv.Atoi(pod.Labels[specs.LabelIndex])
	return n, err == nil && n >= 0
}
