package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/tributary-dev/tributary/api/v1alpha1"
	"github.com/tributary-dev/tributary/controllers/specs"
	"github.com/tributary-dev/tributary/runtime"
)

// Defaults of spec.health and spec.rollback.
const (
	defaultStartTimeout    = 5 * time.Minute
	defaultReadyTimeout    = 10 * time.Minute
	defaultRollbackTimeout = 5 * time.Minute
	defaultStallBatches    = 10
)

// reconcileDriver keeps one driver running the effective spec: it starts
// one, restarts a failed one after the backoff, stops it for a suspension,
// an upgrade or a pod change, and notices a completed bounded run.
func (r *StreamingJobReconciler) reconcileDriver(ctx context.Context, s *scope) error {
	st := &s.job.Status
	d := &st.Deployed
	pod := s.driver
	if pod != nil && !pod.DeletionTimestamp.IsZero() {
		s.after(time.Second)
		return nil
	}
	if d.Completed || d.Failed != "" {
		if d.SpecHash == s.specHash || pod != nil && !podDone(pod) {
			if d.Failed != "" && pod != nil {
				return r.deletePod(ctx, pod)
			}
			return nil
		}
		d.Completed = false // a changed spec starts a new run
	}
	if pod == nil {
		// A driver the operator stopped (for a suspension, an upgrade or a
		// roll) is gone by design; any other has failed. What the pods
		// should run is compared with what the last driver was started
		// with, which survives a status write lost to a conflict.
		deliberate := s.spec.Suspend || d.SpecHash != s.specHash || d.PodsHash != r.driverPodHash(s)
		if st.DriverPod != "" && !deliberate {
			// The cache may not have seen the pod created last time.
			var live corev1.Pod
			err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: s.job.Namespace, Name: st.DriverPod}, &live)
			if err == nil {
				s.after(time.Second)
				return nil
			}
			if !apierrors.IsNotFound(err) {
				return fmt.Errorf("reading driver pod %s: %w", st.DriverPod, err)
			}
			return r.driverFailed(ctx, s, "the driver pod was deleted")
		}
		st.DriverPod = ""
		return r.startDriver(ctx, s)
	}
	if podDone(pod) && st.DriverPod == "" && d.StopSavepoint == "" && !d.Completed {
		// Its end was handled; the cache has not seen it go yet.
		return r.deletePod(ctx, pod)
	}
	switch pod.Status.Phase {
	case corev1.PodSucceeded:
		if d.StopSavepoint != "" {
			return r.stoppedWithSavepoint(ctx, s, true)
		}
		if d.SpecHash == s.specHash {
			d.Completed = true
			r.event(s, corev1.EventTypeNormal, "Completed", "Complete", "the bounded job finished its run")
			return nil
		}
		return r.deletePod(ctx, pod)
	case corev1.PodFailed:
		if d.StopSavepoint != "" {
			return r.stoppedWithSavepoint(ctx, s, false)
		}
		return r.driverFailed(ctx, s, podFailure(pod))
	}
	if d.StopSavepoint != "" {
		// Asked to stop with a savepoint: it exits when it has one, within
		// the bound the kubelet gives a graceful stop.
		s.facts.upgrading = true
		if grace := terminationGrace(pod); d.StopRequestedAt != nil && s.now.Sub(d.StopRequestedAt.Time) > grace {
			r.event(s, corev1.EventTypeWarning, "SavepointFailed", "Savepoint",
				"the driver did not stop with savepoint %s within %s, its termination grace period; stopping it without one: the job resumes from its last checkpoint",
				d.StopSavepoint, grace)
			d.StopSavepoint, d.StopRequestedAt, st.DriverRunningSince = "", nil, nil
			return r.deletePod(ctx, pod)
		}
		s.after(time.Second)
		return nil
	}
	if r.rollBackIfStuck(s) {
		s.after(time.Millisecond)
		return nil
	}
	switch {
	case s.spec.Suspend:
		s.facts.suspending = true
		r.event(s, corev1.EventTypeNormal, "Suspending", "Suspend", "stopping the driver at a batch boundary, with a final checkpoint")
		return r.stopDriver(ctx, s, "")
	case pod.Annotations[annotationSpecHash] != s.specHash:
		s.facts.upgrading = true
		savepoint := ""
		if s.spec.UpgradeMode == v1alpha1.UpgradeSavepoint && d.RolledBackFrom == "" && podReady(pod) {
			savepoint = fmt.Sprintf("upgrade-%s-%d", s.job.Name, s.now.Unix())
		}
		r.event(s, corev1.EventTypeNormal, "Upgrading", "Upgrade", "the job changed: stopping the driver (upgrade mode %s)", upgradeMode(s.spec))
		return r.stopDriver(ctx, s, savepoint)
	case pod.Annotations[annotationPodHash] != r.driverPodHash(s):
		s.facts.rolling = true
		r.event(s, corev1.EventTypeNormal, "RollingDriver", "Roll", "the driver pod changed: restarting it from its checkpoint")
		return r.stopDriver(ctx, s, "")
	}
	return r.watchDriver(ctx, s)
}

// watchDriver follows a driver that runs the right spec: how long it takes
// to start and become ready, and when it runs well.
func (r *StreamingJobReconciler) watchDriver(ctx context.Context, s *scope) error {
	st := &s.job.Status
	pod := s.driver
	health := s.spec.Health
	switch {
	case pod.Status.Phase == corev1.PodPending:
		limit := durationOr(health.StartTimeout, defaultStartTimeout)
		if waited := s.now.Sub(pod.CreationTimestamp.Time); waited >= limit {
			s.facts.notStarting = fmt.Sprintf("driver pod %s has been pending for %s: %s", pod.Name, waited.Round(time.Second), pendingReason(pod))
		} else {
			s.after(limit - waited)
		}
	case !podReady(pod):
		limit := durationOr(health.ReadyTimeout, defaultReadyTimeout)
		since := pod.CreationTimestamp.Time
		if pod.Status.StartTime != nil {
			since = pod.Status.StartTime.Time
		}
		if waited := s.now.Sub(since); waited >= limit {
			return r.driverFailed(ctx, s, fmt.Sprintf("the driver did not become ready within %s", limit))
		} else {
			s.after(min(limit-waited, 5*time.Second))
		}
	default:
		if st.DriverRunningSince == nil {
			st.DriverRunningSince = &metav1.Time{Time: s.now}
			st.NextRestartTime, st.Backoff = nil, ""
			if st.Restarts > 0 {
				r.event(s, corev1.EventTypeNormal, "Recovered", "Recover", "the driver is running again, resumed from its checkpoint")
			}
		}
		if d := &st.Deployed; d.UpgradeStartTime != nil {
			d.UpgradeStartTime = nil
			r.event(s, corev1.EventTypeNormal, "Upgraded", "Upgrade", "the upgraded driver is ready")
		}
		if stable, err := json.Marshal(s.spec); err == nil && st.Deployed.RolledBackFrom == "" {
			st.Deployed.StableSpec = string(stable)
		}
	}
	return nil
}

// rollBackIfStuck rolls an upgrade back to the last spec that ran well
// when its driver is not ready in time, if the job allows it.
func (r *StreamingJobReconciler) rollBackIfStuck(s *scope) bool {
	d := &s.job.Status.Deployed
	rb := s.job.Spec.Rollback
	if !rb.Enabled || d.UpgradeStartTime == nil || d.StableSpec == "" || d.RolledBackFrom != "" || (s.driver != nil && podReady(s.driver)) {
		return false
	}
	limit := durationOr(rb.ReadyTimeout, defaultRollbackTimeout)
	if waited := s.now.Sub(d.UpgradeStartTime.Time); waited < limit {
		s.after(limit - waited)
		return false
	}
	d.RolledBackFrom = hashOf(jobFields(s.job.Spec))
	d.UpgradeStartTime = nil
	s.job.Status.Restarts = 0
	r.event(s, corev1.EventTypeWarning, "RolledBack", "Rollback",
		"the upgraded driver was not ready within %s: rolling back to the last spec that ran well, with its state", limit)
	return true
}

// startDriver creates the driver pod, once any backoff has passed.
func (r *StreamingJobReconciler) startDriver(ctx context.Context, s *scope) error {
	job, st := s.job, &s.job.Status
	d := &st.Deployed
	if s.spec.Suspend {
		s.facts.suspended = len(s.executors) == 0
		return nil
	}
	if st.NextRestartTime != nil && s.now.Before(st.NextRestartTime.Time) {
		s.facts.restartPending = true
		s.after(st.NextRestartTime.Sub(s.now))
		return nil
	}
	upgrade := d.SpecHash != "" && d.SpecHash != s.specHash
	switch {
	case s.spec.RestoreFrom != "" && s.spec.RestoreFrom != d.RestoredFrom:
		d.RestoreID = "restore-" + hashOf([]any{s.spec.RestoreFrom, job.UID, job.Generation})
		d.RestoreFrom, d.RestoredFrom = s.spec.RestoreFrom, s.spec.RestoreFrom
	case !upgrade || d.RolledBackFrom != "":
	case s.spec.UpgradeMode == v1alpha1.UpgradeStateless:
		d.RestoreID, d.RestoreFrom = fmt.Sprintf("stateless-%s-g%d", s.specHash, job.Generation), ""
	}
	cm, err := specs.JobConfigMap(&v1alpha1.StreamingJob{ObjectMeta: job.ObjectMeta, Spec: s.spec})
	if err != nil {
		return err
	}
	if err := r.apply(ctx, job, cm); err != nil {
		return err
	}
	pod, err := r.driverPod(s)
	if err != nil {
		return err
	}
	if err := r.Create(ctx, pod); err != nil {
		if apierrors.IsAlreadyExists(err) {
			s.after(time.Second)
			return nil
		}
		return fmt.Errorf("creating driver pod %s: %w", pod.Name, err)
	}
	st.DriverPod, st.DriverRunningSince = pod.Name, nil
	s.driver = pod
	switch {
	case upgrade:
		d.UpgradeStartTime = &metav1.Time{Time: s.now}
		r.event(s, corev1.EventTypeNormal, "Upgrading", "Upgrade", "started driver %s with the changed job", pod.Name)
	case st.NextRestartTime != nil:
		r.event(s, corev1.EventTypeNormal, "Restarted", "Restart", "started driver %s (restart %d), recovering from the checkpoint", pod.Name, st.Restarts)
	case d.SpecHash != "":
		r.event(s, corev1.EventTypeNormal, "Resumed", "Resume", "started driver %s, resuming from the checkpoint", pod.Name)
	default:
		st.SavepointTrigger = savepointTrigger(job)
		r.event(s, corev1.EventTypeNormal, "Started", "Start", "started driver %s", pod.Name)
	}
	st.NextRestartTime = nil
	d.SpecHash, d.PodsHash, d.Generation = s.specHash, pod.Annotations[annotationPodHash], job.Generation
	s.after(time.Second)
	return nil
}

// driverPod builds the driver for the effective spec.
func (r *StreamingJobReconciler) driverPod(s *scope) (*corev1.Pod, error) {
	d := s.job.Status.Deployed
	pod, err := specs.DriverPod(s.effectiveJob(), r.image(s), specs.Restore{ID: d.RestoreID, From: d.RestoreFrom})
	if err != nil {
		return nil, err
	}
	pod.Annotations = mergeMaps(pod.Annotations, map[string]string{annotationSpecHash: s.specHash, annotationPodHash: podHash(pod)})
	return pod, controllerutil.SetControllerReference(s.job, pod, r.Scheme())
}

// driverPodHash is what the running driver's pod hash should be.
func (r *StreamingJobReconciler) driverPodHash(s *scope) string {
	d := s.job.Status.Deployed
	pod, err := specs.DriverPod(s.effectiveJob(), r.image(s), specs.Restore{ID: d.RestoreID, From: d.RestoreFrom})
	if err != nil {
		return ""
	}
	return podHash(pod)
}

// stopDriver stops the driver gracefully: the batches already cut finish,
// a last checkpoint is written (and the savepoint, if named), and the
// driver exits. Without a savepoint the pod is deleted, which sends the
// same stop as SIGTERM, within its termination grace period.
func (r *StreamingJobReconciler) stopDriver(ctx context.Context, s *scope, savepoint string) error {
	st := &s.job.Status
	s.after(time.Second)
	if savepoint != "" && r.Drivers != nil {
		if err := r.Drivers.Stop(ctx, s.driver, savepoint); err == nil {
			st.Deployed.StopSavepoint, st.Deployed.StopRequestedAt = savepoint, &metav1.Time{Time: s.now}
			st.DriverPod = ""
			return nil
		} else {
			r.event(s, corev1.EventTypeWarning, "SavepointFailed", "Savepoint", "stopping with a savepoint: %v; stopping with a checkpoint instead", err)
		}
	}
	st.DriverPod, st.DriverRunningSince = "", nil
	return r.deletePod(ctx, s.driver)
}

// stoppedWithSavepoint finishes a stop that took a savepoint: the next
// driver starts from it. A driver that could not take it fails, and the
// upgrade carries on from the last checkpoint.
func (r *StreamingJobReconciler) stoppedWithSavepoint(ctx context.Context, s *scope, ok bool) error {
	st := &s.job.Status
	d := &st.Deployed
	name := d.StopSavepoint
	d.StopSavepoint, d.StopRequestedAt = "", nil
	if ok {
		loc := runtime.SavepointLocation(s.spec.Checkpoint.Location, name)
		d.RestoreID, d.RestoreFrom = "savepoint-"+name, loc
		st.LastSavepoint = &v1alpha1.SavepointRef{Name: name, Location: loc, TakenAt: metav1.Time{Time: s.now}}
		r.event(s, corev1.EventTypeNormal, "SavepointTaken", "Savepoint", "the stopped driver took savepoint %s at %s", name, loc)
	} else {
		r.event(s, corev1.EventTypeWarning, "SavepointFailed", "Savepoint", "the driver could not take savepoint %s as it stopped (%s); the job resumes from its last checkpoint", name, podFailure(s.driver))
	}
	return r.deletePod(ctx, s.driver)
}

// driverFailed handles a driver that failed, was deleted or evicted, or
// never became ready: after the backoff a new one is started, which
// recovers from the checkpoint, unless the restart limit is reached.
func (r *StreamingJobReconciler) driverFailed(ctx context.Context, s *scope, why string) error {
	st := &s.job.Status
	policy := restartPolicyOf(s.spec.RestartPolicy)
	st.DriverPod, st.DriverRunningSince = "", nil
	if s.driver != nil {
		// A driver failed while still running (stalled, never ready) gets
		// no graceful stop: it could not finish one.
		if err := r.deletePod(ctx, s.driver, client.GracePeriodSeconds(failedDriverGrace)); err != nil {
			return err
		}
	}
	if policy.exhausted(st.Restarts) {
		st.Deployed.Failed = fmt.Sprintf("the driver failed %d times in a row, the restart limit: %s", st.Restarts+1, why)
		st.NextRestartTime, st.Backoff = nil, ""
		r.event(s, corev1.EventTypeWarning, "Failed", "Fail", "%s", st.Deployed.Failed)
		return nil
	}
	backoff := policy.backoff(st.Restarts)
	st.Restarts++
	st.NextRestartTime = &metav1.Time{Time: s.now.Add(backoff)}
	st.Backoff = backoff.String()
	s.facts.restartPending = true
	s.facts.lastFailure = why
	r.Metrics.restarted()
	r.event(s, corev1.EventTypeWarning, "DriverFailed", "Restart", "%s; restarting it in %s (restart %d)", why, backoff, st.Restarts)
	s.after(backoff)
	return nil
}

// failedDriverGrace is the termination grace of a driver that failed while
// running: enough to flush its logs.
const failedDriverGrace = 5

// deletePod deletes a pod, within its grace period unless opts say
// otherwise, if it is still the one observed.
func (r *StreamingJobReconciler) deletePod(ctx context.Context, pod *corev1.Pod, opts ...client.DeleteOption) error {
	err := r.Delete(ctx, pod, append(opts, client.Preconditions{UID: &pod.UID})...)
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("deleting pod %s: %w", pod.Name, err)
	}
	return nil
}

// apply creates obj, or updates it when its data differs from what is
// there: owned objects follow the job, and an unchanged job writes nothing.
func (r *StreamingJobReconciler) apply(ctx context.Context, job *v1alpha1.StreamingJob, obj client.Object) error {
	if err := controllerutil.SetControllerReference(job, obj, r.Scheme()); err != nil {
		return err
	}
	existing := obj.DeepCopyObject().(client.Object)
	err := r.Get(ctx, client.ObjectKeyFromObject(obj), existing)
	if apierrors.IsNotFound(err) {
		if err := r.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating %T %s: %w", obj, obj.GetName(), err)
		}
		return nil
	}
	if err != nil {
		return err
	}
	if sameData(existing, obj) {
		return nil
	}
	obj.SetResourceVersion(existing.GetResourceVersion())
	if err := r.Update(ctx, obj); err != nil {
		return fmt.Errorf("updating %T %s: %w", obj, obj.GetName(), err)
	}
	return nil
}

// image is the image the job's pods run.
func (r *StreamingJobReconciler) image(s *scope) string {
	if s.spec.Image != "" {
		return s.spec.Image
	}
	return r.Image
}

// effectiveJob is the job with the spec the pods run.
func (s *scope) effectiveJob() *v1alpha1.StreamingJob {
	job := s.job.DeepCopy()
	job.Spec = s.spec
	return job
}

func (r *StreamingJobReconciler) event(s *scope, kind, reason, action, note string, args ...any) {
	if r.Events != nil {
		r.Events.Eventf(s.job, nil, kind, reason, action, note, args...)
	}
	s.log.Info(fmt.Sprintf(note, args...), "reason", reason, "eventType", kind)
}

func upgradeMode(spec v1alpha1.StreamingJobSpec) v1alpha1.UpgradeMode {
	if spec.UpgradeMode == "" {
		return v1alpha1.UpgradeLastState
	}
	return spec.UpgradeMode
}

func durationOr(d *metav1.Duration, def time.Duration) time.Duration {
	if d != nil && d.Duration > 0 {
		return d.Duration
	}
	return def
}
