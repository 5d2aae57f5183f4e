package controllers

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tributary-dev/tributary/api/v1alpha1"
)

// toLua converts decoded JSON into Lua values, as Argo CD hands objects to
// health scripts.
func toLua(L *lua.LState, v any) lua.LValue {
	switch x := v.(type) {
	case map[string]any:
		t := L.NewTable()
		for k, val := range x {
			t.RawSetString(k, toLua(L, val))
		}
		return t
	case []any:
		t := L.NewTable()
		for _, val := range x {
			t.Append(toLua(L, val))
		}
		return t
	case string:
		return lua.LString(x)
	case float64:
		return lua.LNumber(x)
	case bool:
		return lua.LBool(x)
	}
	return lua.LNil
}

// argoHealth runs docs/gitops/streamingjob-health.lua on a job.
func argoHealth(t *testing.T, job *v1alpha1.StreamingJob) (string, string) {
	t.Helper()
	script, err := os.ReadFile(filepath.Join("..", "docs", "gitops", "streamingjob-health.lua"))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(job)
	var obj map[string]any
	_ = json.Unmarshal(data, &obj)
	L := lua.NewState()
	defer L.Close()
	L.SetGlobal("obj", toLua(L, obj))
	fn, err := L.LoadString(string(script))
	if err != nil {
		t.Fatal(err)
	}
	L.Push(fn)
	if err := L.PCall(0, 1, nil); err != nil {
		t.Fatal(err)
	}
	hs, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		t.Fatalf("the script returned %v", L.Get(-1))
	}
	return hs.RawGetString("status").String(), hs.RawGetString("message").String()
}

// The Argo CD health check, on the statuses the operator derives: Healthy
// only when Ready for the current generation, Degraded when the operator
// says so, never stuck at Progressing for a job that runs.
func TestTheArgoCDHealthCheck(t *testing.T) {
	for _, tc := range []struct {
		name       string
		in         statusInput
		observed   int64 // of generation 2
		wantHealth string
	}{
		{"running", statusInput{driverExists: true, driverReady: true, executorsReady: 2, executorsWant: 2}, 2, "Healthy"},
		{"running an older generation", statusInput{driverExists: true, driverReady: true, executorsReady: 2, executorsWant: 2}, 1, "Progressing"},
		{"scaling", statusInput{driverExists: true, driverReady: true, executorsReady: 2, executorsWant: 3}, 2, "Healthy"},
		{"starting", statusInput{driverExists: true}, 2, "Progressing"},
		{"recovering", statusInput{facts: facts{restartPending: true}, restarts: 1, backoff: "2s"}, 2, "Progressing"},
		{"upgrading", statusInput{facts: facts{upgrading: true}, driverExists: true}, 2, "Progressing"},
		{"stalled", statusInput{facts: facts{stalled: "no batch has completed for 30s"}, driverExists: true, driverReady: true}, 2, "Degraded"},
		{"restart limit", statusInput{failed: "the driver failed 4 times"}, 2, "Degraded"},
		{"invalid spec", statusInput{facts: facts{invalidSpec: "spec.pipeline.streams[0].map: syntax error"}}, 2, "Degraded"},
		{"rolled back", statusInput{rolledBack: true, driverExists: true, driverReady: true}, 2, "Degraded"},
		{"suspended", statusInput{suspend: true, facts: facts{suspended: true}}, 2, "Suspended"},
		{"completed", statusInput{completed: true}, 2, "Healthy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := derive(tc.in)
			job := &v1alpha1.StreamingJob{ObjectMeta: metav1.ObjectMeta{Name: "wc", Generation: 2}}
			job.Status.Phase, job.Status.Message, job.Status.ObservedGeneration = out.phase, out.message, tc.observed
			for _, c := range out.conditions {
				c.ObservedGeneration, c.LastTransitionTime = tc.observed, metav1.Now()
				meta.SetStatusCondition(&job.Status.Conditions, c)
			}
			health, msg := argoHealth(t, job)
			if health != tc.wantHealth || msg == "" {
				t.Errorf("health %s (%q), want %s", health, msg, tc.wantHealth)
			}
		})
	}
	if health, _ := argoHealth(t, &v1alpha1.StreamingJob{ObjectMeta: metav1.ObjectMeta{Name: "new", Generation: 1}}); health != "Progressing" {
		t.Errorf("a job with no status yet: %s", health)
	}
}
