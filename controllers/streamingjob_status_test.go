package controllers

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/tributary-dev/tributary/api/v1alpha1"
)

// derive's table: each observed situation, its phase, and each condition's
// status and reason.
func TestConditionsAreDerivedFromWhatWasObserved(t *testing.T) {
	type conds struct{ ready, progressing, degraded, suspended string }
	for _, tc := range []struct {
		name  string
		in    statusInput
		phase v1alpha1.Phase
		want  conds // "True/Reason" or "False/Reason"
	}{
		{"starting", statusInput{driverExists: true, executorsWant: 2},
			v1alpha1.PhasePending, conds{"False/Pending", "True/Starting", "False/AsExpected", "False/NotSuspended"}},
		{"running", statusInput{driverExists: true, driverReady: true, executorsReady: 2, executorsWant: 2},
			v1alpha1.PhaseRunning, conds{"True/Running", "False/Stable", "False/AsExpected", "False/NotSuspended"}},
		{"scaling", statusInput{driverExists: true, driverReady: true, executorsReady: 2, executorsWant: 3},
			v1alpha1.PhaseRunning, conds{"True/Running", "True/Scaling", "False/AsExpected", "False/NotSuspended"}},
		{"rolling pods", statusInput{facts: facts{rolling: true}, driverExists: true, driverReady: true, executorsReady: 2, executorsWant: 2},
			v1alpha1.PhaseRunning, conds{"True/Running", "True/RollingPods", "False/AsExpected", "False/NotSuspended"}},
		{"stalled", statusInput{facts: facts{stalled: "no batch"}, driverExists: true, driverReady: true, executorsReady: 2, executorsWant: 2},
			v1alpha1.PhaseRunning, conds{"False/Stalled", "False/Stable", "True/Stalled", "False/NotSuspended"}},
		{"restart due", statusInput{facts: facts{restartPending: true, lastFailure: "exit 1"}, restarts: 1, backoff: "1s"},
			v1alpha1.PhaseRecovering, conds{"False/Recovering", "True/Recovering", "False/AsExpected", "False/NotSuspended"}},
		{"recovering", statusInput{driverExists: true, restarts: 1},
			v1alpha1.PhaseRecovering, conds{"False/Recovering", "True/Recovering", "False/AsExpected", "False/NotSuspended"}},
		{"restart limit", statusInput{failed: "the driver failed 4 times", restarts: 3},
			v1alpha1.PhaseFailed, conds{"False/Failed", "False/Failed", "True/RestartLimitExceeded", "False/NotSuspended"}},
		{"invalid spec, nothing running", statusInput{facts: facts{invalidSpec: "spec.pipeline.streams[0].map: syntax error"}},
			v1alpha1.PhaseFailed, conds{"False/Failed", "False/Failed", "True/InvalidSpec", "False/NotSuspended"}},
		{"invalid change, old spec running", statusInput{facts: facts{invalidSpec: "bad"}, driverExists: true, driverReady: true, executorsReady: 2, executorsWant: 2},
			v1alpha1.PhaseRunning, conds{"True/Running", "False/Stable", "True/InvalidSpec", "False/NotSuspended"}},
		{"pods not starting", statusInput{facts: facts{notStarting: "ErrImagePull"}, driverExists: true},
			v1alpha1.PhasePending, conds{"False/Pending", "True/Starting", "True/PodsNotStarting", "False/NotSuspended"}},
		{"upgrading", statusInput{facts: facts{upgrading: true}, driverExists: true, driverReady: true},
			v1alpha1.PhaseUpgrading, conds{"False/Upgrading", "True/Upgrading", "False/AsExpected", "False/NotSuspended"}},
		{"rolled back", statusInput{driverExists: true, driverReady: true, rolledBack: true, executorsReady: 1, executorsWant: 1},
			v1alpha1.PhaseRunning, conds{"True/Running", "False/Stable", "True/RolledBack", "False/NotSuspended"}},
		{"suspending", statusInput{suspend: true, driverExists: true, driverReady: true},
			v1alpha1.PhaseRunning, conds{"False/Running", "True/Suspending", "False/AsExpected", "False/Suspending"}},
		{"suspended", statusInput{suspend: true, facts: facts{suspended: true}},
			v1alpha1.PhaseSuspended, conds{"False/Suspended", "False/Suspended", "False/AsExpected", "True/Suspended"}},
		{"completed", statusInput{completed: true},
			v1alpha1.PhaseCompleted, conds{"False/Completed", "False/Completed", "False/AsExpected", "False/NotSuspended"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := derive(tc.in)
			if out.phase != tc.phase {
				t.Errorf("phase %s, want %s", out.phase, tc.phase)
			}
			got := map[string]string{}
			for _, c := range out.conditions {
				got[c.Type] = string(c.Status) + "/" + c.Reason
				if c.Status == metav1.ConditionTrue && c.Message == "" && c.Type != v1alpha1.ConditionReady {
					t.Errorf("%s is True without a message", c.Type)
				}
			}
			want := map[string]string{v1alpha1.ConditionReady: tc.want.ready, v1alpha1.ConditionProgressing: tc.want.progressing,
				v1alpha1.ConditionDegraded: tc.want.degraded, v1alpha1.ConditionSuspended: tc.want.suspended}
			for typ, w := range want {
				if got[typ] != w {
					t.Errorf("%s: %s, want %s", typ, got[typ], w)
				}
			}
			if out.message == "" {
				t.Error("no message")
			}
		})
	}
}

// Messages stay bounded whatever an error says.
func TestStatusMessagesAreBounded(t *testing.T) {
	long := make([]byte, 10000)
	for i := range long {
		long[i] = 'x'
	}
	out := derive(statusInput{facts: facts{invalidSpec: string(long)}})
	if len(out.message) > 520 {
		t.Errorf("message of %d bytes", len(out.message))
	}
	for _, c := range out.conditions {
		if len(c.Message) > 1030 {
			t.Errorf("%s message of %d bytes", c.Type, len(c.Message))
		}
	}
}

// Which changes restart the job (an upgrade) and which only touch pods.
func TestOnlyJobFieldsChangeTheSpecHash(t *testing.T) {
	base := v1alpha1.StreamingJobSpec{BatchInterval: metav1.Duration{Duration: 1e9}, Executors: v1alpha1.ExecutorSpec{Replicas: ptr.To[int32](2)},
		Pipeline: v1alpha1.Pipeline{Sources: []v1alpha1.Source{{Name: "in", Generator: &v1alpha1.GeneratorSource{}}}}}
	h := hashOf(jobFields(base))
	for _, tc := range []struct {
		name    string
		edit    func(*v1alpha1.StreamingJobSpec)
		upgrade bool
	}{
		{"replicas", func(s *v1alpha1.StreamingJobSpec) { s.Executors.Replicas = ptr.To[int32](5) }, false},
		{"suspend", func(s *v1alpha1.StreamingJobSpec) { s.Suspend = true }, false},
		{"restart policy", func(s *v1alpha1.StreamingJobSpec) { s.RestartPolicy.MaxRestarts = ptr.To[int32](1) }, false},
		{"savepoint trigger", func(s *v1alpha1.StreamingJobSpec) { s.SavepointTrigger = "2" }, false},
		{"retention", func(s *v1alpha1.StreamingJobSpec) { s.Checkpoint.RetentionPolicy = v1alpha1.DeleteCheckpoints }, false},
		{"upgrade mode", func(s *v1alpha1.StreamingJobSpec) { s.UpgradeMode = v1alpha1.UpgradeStateless }, false},
		{"image", func(s *v1alpha1.StreamingJobSpec) { s.Image = "tributary:2" }, true},
		{"batch interval", func(s *v1alpha1.StreamingJobSpec) { s.BatchInterval.Duration = 2e9 }, true},
		{"pipeline", func(s *v1alpha1.StreamingJobSpec) { s.Pipeline.Sources[0].Name = "lines" }, true},
		{"parallelism", func(s *v1alpha1.StreamingJobSpec) { s.Parallelism = 8 }, true},
		{"restore from", func(s *v1alpha1.StreamingJobSpec) { s.RestoreFrom = "s3://b/sp" }, true},
	} {
		spec := *base.DeepCopy()
		tc.edit(&spec)
		if changed := hashOf(jobFields(spec)) != h; changed != tc.upgrade {
			t.Errorf("%s: upgrade %v, want %v", tc.name, changed, tc.upgrade)
		}
	}
}
