package controllers

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tributary-dev/tributary/api/v1alpha1"
)

// reconcileHealth reads the driver's progress: a driver that runs but has
// completed no batch for spec.health.stallBatches intervals has stalled
// (Degraded, and restarted if the job asks for it); a driver that ran
// stably for restartPolicy.resetAfter has its restart count reset.
func (r *StreamingJobReconciler) reconcileHealth(ctx context.Context, s *scope) error {
	st := &s.job.Status
	if s.driver == nil || !podReady(s.driver) || st.DriverRunningSince == nil {
		return nil
	}
	policy := restartPolicyOf(s.spec.RestartPolicy)
	if st.Restarts > 0 {
		if policy.stable(st.DriverRunningSince.Time, s.now) {
			st.Restarts = 0
		} else {
			s.after(st.DriverRunningSince.Add(policy.resetAfter).Sub(s.now))
		}
	}
	v := s.driverStatus
	if v == nil {
		s.after(5 * time.Second)
		return nil
	}
	if v.LastCompletedBatch > 0 {
		st.LastBatchTime = &metav1.Time{Time: v.LastCompletedBatch.Std()}
		st.Lag = (time.Duration(v.LagMillis) * time.Millisecond).Round(100 * time.Millisecond).String()
	}
	if ck := v.Checkpoints; ck != nil && ck.Metadata != "" {
		st.LastCheckpoint = &v1alpha1.CheckpointRef{BatchTime: metav1.Time{Time: ck.MetadataTime.Std()}, Location: ck.Location + "/" + ck.Metadata}
	}
	interval := s.spec.BatchInterval.Duration
	stallBatches := s.spec.Health.StallBatches
	if stallBatches <= 0 {
		stallBatches = defaultStallBatches
	}
	limit := time.Duration(stallBatches) * interval
	last := st.DriverRunningSince.Time
	if v.LastCompletedBatch > 0 && v.LastCompletedBatch.Std().After(last) {
		last = v.LastCompletedBatch.Std()
	}
	if idle := s.now.Sub(last); idle > limit {
		s.facts.stalled = fmt.Sprintf("no batch has completed for %s (%d batch intervals)", idle.Round(time.Second), int64(idle/interval))
		if ck := v.Checkpoints; ck != nil && ck.StoreError != "" {
			s.facts.stalled += "; checkpoint store: " + ck.StoreError
		}
		if s.spec.Health.RestartOnStall {
			return r.driverFailed(ctx, s, "the job stalled: "+s.facts.stalled)
		}
	}
	s.after(min(max(interval, time.Second), 10*time.Second))
	return nil
}
