package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tributary-dev/tributary/api/v1alpha1"
)

// savepointTrigger is what asks for a savepoint: the spec field and the
// annotation, either of which may change.
func savepointTrigger(job *v1alpha1.StreamingJob) string {
	if a := job.Annotations[annotationSavepointTrigger]; a != "" {
		return job.Spec.SavepointTrigger + "/" + a
	}
	return job.Spec.SavepointTrigger
}

// reconcileSavepoints takes a savepoint of the running job when its
// trigger changed (startDriver takes a trigger set before the job first
// ran as handled). A failed savepoint is retried.
func (r *StreamingJobReconciler) reconcileSavepoints(ctx context.Context, s *scope) error {
	st := &s.job.Status
	trigger := savepointTrigger(s.job)
	if trigger == st.SavepointTrigger {
		return nil
	}
	if s.driver == nil || !podReady(s.driver) || r.Drivers == nil {
		s.after(2 * time.Second)
		return nil
	}
	// Unique per trigger, and readable: when, and which trigger.
	name := fmt.Sprintf("%s-%s-%s", s.job.Name, s.now.UTC().Format("20060102-150405"), hashOf(trigger)[:6])
	info, err := r.Drivers.Savepoint(ctx, s.driver, name)
	if err != nil {
		r.event(s, corev1.EventTypeWarning, "SavepointFailed", "Savepoint", "savepoint %s: %v; retrying", name, err)
		s.after(10 * time.Second)
		return nil
	}
	st.SavepointTrigger = trigger
	st.LastSavepoint = &v1alpha1.SavepointRef{Name: info.Name, Location: info.Location, TakenAt: metav1.Time{Time: s.now},
		BatchTime: &metav1.Time{Time: info.BatchTime.Std()}}
	r.event(s, corev1.EventTypeNormal, "SavepointTaken", "Savepoint", "savepoint %s at %s", info.Name, info.Location)
	return nil
}
