package controllers

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/tributary-dev/tributary/controllers/specs"
)

// idleExecutorsAfter: executors wait for a driver restart due within this
// long (they redial it); for a longer backoff they are removed and created
// again with the driver.
const idleExecutorsAfter = 20 * time.Second

// reconcileExecutors keeps spec.executors.replicas executor pods: a lost
// one is replaced at once and alone (the driver recomputes its partitions;
// the job is not restarted), extra ones are drained before they go, and a
// changed pod is rolled one at a time.
func (r *StreamingJobReconciler) reconcileExecutors(ctx context.Context, s *scope) error {
	want := wantedExecutors(s)
	indices := make([]int, 0, len(s.executors))
	for i := range s.executors {
		indices = append(indices, i)
	}
	slices.Sort(indices)
	var outdated []int
	allReady := true
	for _, i := range indices {
		pod := s.executors[i]
		switch {
		case !pod.DeletionTimestamp.IsZero():
			allReady = false
			s.after(time.Second)
		case i >= want:
			if err := r.removeExecutor(ctx, s, pod); err != nil {
				return err
			}
			allReady = false
		case podDone(pod):
			r.event(s, corev1.EventTypeWarning, "ExecutorLost", "Replace", "executor %s ended (%s): replacing it", pod.Name, podFailure(pod))
			if err := r.deletePod(ctx, pod); err != nil {
				return err
			}
			allReady = false
			s.after(time.Millisecond)
		default:
			if !podReady(pod) {
				allReady = false
			}
			if hash, err := r.executorPodHash(s, i); err == nil && pod.Annotations[annotationPodHash] != hash {
				outdated = append(outdated, i)
			}
		}
	}
	for i := range want {
		if _, ok := s.executors[i]; ok {
			continue
		}
		if err := r.createExecutor(ctx, s, i); err != nil {
			return err
		}
		allReady = false
	}
	// One changed executor at a time, while the others run: the job keeps
	// going on them, and recovers the partitions of the one replaced. A
	// changed executor that is not ready anyway (its image cannot be
	// pulled, say) goes at once.
	for _, i := range outdated {
		s.facts.rolling = true
		s.after(time.Second)
		pod := s.executors[i]
		if podReady(pod) && !allReady {
			continue
		}
		r.event(s, corev1.EventTypeNormal, "RollingExecutor", "Roll", "executor %s changed: replacing it", pod.Name)
		if err := r.deletePod(ctx, pod); err != nil {
			return err
		}
		if podReady(pod) {
			break
		}
	}
	return nil
}

// wantedExecutors is how many executors the job should have now: none
// while it is suspended, failed, completed, or waiting long for a driver
// restart.
func wantedExecutors(s *scope) int {
	st := s.job.Status
	switch {
	case st.Deployed.Failed != "" || st.Deployed.Completed:
		return 0
	case s.facts.deleting, s.driver == nil && s.spec.Suspend:
		return 0
	case s.driver == nil && st.NextRestartTime != nil && st.NextRestartTime.Sub(s.now) > idleExecutorsAfter:
		return 0
	}
	if s.spec.Executors.Replicas == nil {
		return 2
	}
	return int(*s.spec.Executors.Replicas)
}

func (r *StreamingJobReconciler) createExecutor(ctx context.Context, s *scope, index int) error {
	pod, err := specs.ExecutorPod(s.effectiveJob(), index, r.image(s))
	if err != nil {
		return err
	}
	pod.Annotations = mergeMaps(pod.Annotations, map[string]string{annotationPodHash: podHash(pod)})
	if err := controllerutil.SetControllerReference(s.job, pod, r.Scheme()); err != nil {
		return err
	}
	if err := r.Create(ctx, pod); err != nil {
		if apierrors.IsAlreadyExists(err) {
			s.after(time.Second)
			return nil
		}
		return fmt.Errorf("creating executor pod %s: %w", pod.Name, err)
	}
	s.executors[index] = pod
	return nil
}

func (r *StreamingJobReconciler) executorPodHash(s *scope, index int) (string, error) {
	pod, err := specs.ExecutorPod(s.effectiveJob(), index, r.image(s))
	if err != nil {
		return "", err
	}
	return podHash(pod), nil
}

// removeExecutor drains an executor no longer wanted, then deletes it.
// With no driver to drain it (stopped, or not answering), it goes at once.
func (r *StreamingJobReconciler) removeExecutor(ctx context.Context, s *scope, pod *corev1.Pod) error {
	if s.driver != nil && s.driverStatus != nil && r.Drivers != nil && podRunning(pod) {
		drained, err := r.Drivers.Drain(ctx, s.driver, pod.Name)
		if err == nil && !drained {
			s.facts.draining = true
			s.after(time.Second)
			return nil
		}
	}
	r.event(s, corev1.EventTypeNormal, "ExecutorRemoved", "Scale", "removed executor %s", pod.Name)
	return r.deletePod(ctx, pod)
}

// executorSelector selects a job's executor pods, for the scale
// subresource.
func executorSelector(s *scope) string {
	return labels.SelectorFromSet(labels.Set{specs.LabelJob: s.job.Name, specs.LabelRole: specs.RoleExecutor}).String()
}
