package controllers

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tributary-dev/tributary/api/v1alpha1"
)

// facts are what a reconcile found or did that the status reports.
type facts struct {
	invalidSpec       string // the spec cannot run: why
	driverUnreachable string // the driver's /status did not answer: why
	suspending        bool
	suspended         bool
	upgrading         bool
	rolling           bool
	draining          bool
	restartPending    bool
	lastFailure       string
	notStarting       string // a pod pending too long: why
	stalled           string // no batch completes: why
	deleting          bool
}

// statusInput is everything conditions are derived from.
type statusInput struct {
	facts
	suspend        bool
	driverExists   bool
	driverReady    bool
	restarts       int32
	backoff        string
	failed         string
	completed      bool
	upgradePending bool // an upgraded driver is not yet ready
	rolledBack     bool
	executorsReady int
	executorsWant  int
}

// derived is the status summary: a phase, the four conditions and a message.
type derived struct {
	phase      v1alpha1.Phase
	conditions []metav1.Condition // type, status, reason, message
	message    string
}

// deriveStatus writes the status fields that summarise what the reconcile
// observed: the one place phase and conditions are decided.
func deriveStatus(s *scope) {
	st := &s.job.Status
	replicas, ready := 0, 0
	for _, pod := range s.executors {
		if pod.DeletionTimestamp.IsZero() {
			replicas++
			if podReady(pod) {
				ready++
			}
		}
	}
	want := wantedExecutors(s)
	st.Executors = v1alpha1.ExecutorsStatus{Replicas: int32(replicas), Ready: int32(ready), Desired: int32(want),
		Summary: fmt.Sprintf("%d/%d", ready, want), Selector: executorSelector(s)}
	driverLive := s.driver != nil && s.driver.DeletionTimestamp.IsZero() && !podDone(s.driver)
	in := statusInput{
		facts:          s.facts,
		suspend:        s.spec.Suspend,
		driverExists:   driverLive,
		driverReady:    driverLive && podReady(s.driver),
		restarts:       st.Restarts,
		backoff:        st.Backoff,
		failed:         st.Deployed.Failed,
		completed:      st.Deployed.Completed,
		upgradePending: st.Deployed.UpgradeStartTime != nil,
		rolledBack:     st.Deployed.RolledBackFrom != "",
		executorsReady: ready,
		executorsWant:  want,
	}
	in.suspended = in.suspend && !driverLive && replicas == 0
	if !in.driverReady {
		st.Lag = ""
	}
	out := derive(in)
	st.Phase, st.Message = out.phase, out.message
	for _, c := range out.conditions {
		c.ObservedGeneration = s.job.Generation
		meta.SetStatusCondition(&st.Conditions, c)
	}
}

// derive decides the phase, conditions and message. Reasons are PascalCase
// and stable: tools match on them.
func derive(in statusInput) derived {
	var out derived
	degraded, degradedReason, degradedMsg := false, "AsExpected", ""
	switch {
	case in.failed != "":
		degraded, degradedReason, degradedMsg = true, "RestartLimitExceeded", in.failed
	case in.invalidSpec != "":
		degraded, degradedReason, degradedMsg = true, "InvalidSpec", in.invalidSpec
	case in.notStarting != "":
		degraded, degradedReason, degradedMsg = true, "PodsNotStarting", in.notStarting
	case in.stalled != "":
		degraded, degradedReason, degradedMsg = true, "Stalled", in.stalled
	case in.rolledBack:
		degraded, degradedReason, degradedMsg = true, "RolledBack",
			"the last upgrade's driver did not become ready: running the last spec that ran well until the spec changes"
	}

	switch {
	case in.failed != "":
		out.phase, out.message = v1alpha1.PhaseFailed, in.failed
	case in.completed:
		out.phase, out.message = v1alpha1.PhaseCompleted, "the bounded job finished its run"
	case in.invalidSpec != "" && !in.driverExists:
		out.phase, out.message = v1alpha1.PhaseFailed, "the spec cannot run: "+in.invalidSpec
	case in.suspended:
		out.phase, out.message = v1alpha1.PhaseSuspended, "suspended; the job resumes from its checkpoint when spec.suspend is false"
	case in.upgrading || in.upgradePending:
		out.phase, out.message = v1alpha1.PhaseUpgrading, "applying a changed job"
	case in.restartPending:
		out.phase = v1alpha1.PhaseRecovering
		out.message = fmt.Sprintf("restarting the driver in %s (restart %d)", in.backoff, in.restarts)
		if in.lastFailure != "" {
			out.message += " after: " + in.lastFailure
		}
	case in.restarts > 0 && !in.driverReady:
		out.phase, out.message = v1alpha1.PhaseRecovering, "a new driver is recovering from the checkpoint"
	case in.driverReady:
		out.phase, out.message = v1alpha1.PhaseRunning, "running"
		if in.driverUnreachable != "" {
			out.message = "running; its status endpoint did not answer: " + in.driverUnreachable
		}
	default:
		out.phase, out.message = v1alpha1.PhasePending, "starting the driver"
	}
	if in.suspend && !in.suspended {
		out.message = "suspending: stopping at a batch boundary with a final checkpoint"
	}
	if degraded && out.phase != v1alpha1.PhaseFailed {
		out.message = degradedMsg
	}

	ready := metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: string(out.phase), Message: out.message}
	if out.phase == v1alpha1.PhaseRunning && !in.suspend {
		if in.stalled != "" {
			ready.Reason = "Stalled"
		} else {
			ready.Status, ready.Reason = metav1.ConditionTrue, "Running"
		}
	}

	progressing := metav1.Condition{Type: v1alpha1.ConditionProgressing, Status: metav1.ConditionTrue}
	switch {
	case out.phase == v1alpha1.PhaseFailed || out.phase == v1alpha1.PhaseCompleted || out.phase == v1alpha1.PhaseSuspended:
		progressing.Status, progressing.Reason = metav1.ConditionFalse, string(out.phase)
	case in.suspend:
		progressing.Reason = "Suspending"
	case out.phase == v1alpha1.PhasePending:
		progressing.Reason = "Starting"
	case out.phase == v1alpha1.PhaseRecovering || out.phase == v1alpha1.PhaseUpgrading:
		progressing.Reason = string(out.phase)
	case in.rolling:
		progressing.Reason = "RollingPods"
	case in.draining || in.executorsReady != in.executorsWant:
		progressing.Reason = "Scaling"
	default:
		progressing.Status, progressing.Reason = metav1.ConditionFalse, "Stable"
	}
	progressing.Message = out.message
	if progressing.Reason == "Scaling" {
		progressing.Message = fmt.Sprintf("%d of %d executors ready", in.executorsReady, in.executorsWant)
	}

	deg := metav1.Condition{Type: v1alpha1.ConditionDegraded, Status: metav1.ConditionFalse, Reason: degradedReason, Message: degradedMsg}
	if degraded {
		deg.Status = metav1.ConditionTrue
	}

	susp := metav1.Condition{Type: v1alpha1.ConditionSuspended, Status: metav1.ConditionFalse, Reason: "NotSuspended"}
	switch {
	case in.suspended:
		susp.Status, susp.Reason, susp.Message = metav1.ConditionTrue, "Suspended", out.message
	case in.suspend:
		susp.Reason, susp.Message = "Suspending", out.message
	}
	out.message = truncate(out.message, 512)
	out.conditions = []metav1.Condition{ready, progressing, deg, susp}
	for i := range out.conditions {
		out.conditions[i].Message = truncate(out.conditions[i].Message, 1024)
	}
	return out
}
