package controllers

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/tributary-dev/tributary/api/v1alpha1"
)

func TestRestartBackoffDoublesUpToItsCap(t *testing.T) {
	defaults := restartPolicyOf(v1alpha1.RestartPolicy{})
	custom := restartPolicyOf(v1alpha1.RestartPolicy{
		InitialBackoff: &metav1.Duration{Duration: 3 * time.Second}, MaxBackoff: &metav1.Duration{Duration: 20 * time.Second}})
	inverted := restartPolicyOf(v1alpha1.RestartPolicy{
		InitialBackoff: &metav1.Duration{Duration: time.Minute}, MaxBackoff: &metav1.Duration{Duration: time.Second}})
	for _, tc := range []struct {
		name     string
		p        restartPolicy
		restarts int32
		want     time.Duration
	}{
		{"first restart", defaults, 0, time.Second},
		{"second", defaults, 1, 2 * time.Second},
		{"ninth", defaults, 8, 256 * time.Second},
		{"capped at 5m", defaults, 9, 5 * time.Minute},
		{"no overflow after many", defaults, 1000, 5 * time.Minute},
		{"custom initial", custom, 0, 3 * time.Second},
		{"custom cap", custom, 3, 20 * time.Second},
		{"a cap below the initial backoff is the initial backoff", inverted, 2, time.Minute},
	} {
		if got := tc.p.backoff(tc.restarts); got != tc.want {
			t.Errorf("%s: backoff after %d restarts is %s, want %s", tc.name, tc.restarts, got, tc.want)
		}
	}
}

func TestRestartLimitAndReset(t *testing.T) {
	unlimited := restartPolicyOf(v1alpha1.RestartPolicy{})
	three := restartPolicyOf(v1alpha1.RestartPolicy{MaxRestarts: ptr.To(int32(3)), ResetAfter: &metav1.Duration{Duration: time.Minute}})
	none := restartPolicyOf(v1alpha1.RestartPolicy{MaxRestarts: ptr.To(int32(0))})
	for _, tc := range []struct {
		name     string
		p        restartPolicy
		restarts int32
		want     bool
	}{
		{"unlimited", unlimited, 1 << 20, false},
		{"under the limit", three, 2, false},
		{"at the limit", three, 3, true},
		{"no restarts allowed", none, 0, true},
	} {
		if got := tc.p.exhausted(tc.restarts); got != tc.want {
			t.Errorf("%s: exhausted after %d restarts = %v", tc.name, tc.restarts, got)
		}
	}
	now := time.Now()
	for _, tc := range []struct {
		name  string
		p     restartPolicy
		since time.Time
		want  bool
	}{
		{"not running", three, time.Time{}, false},
		{"running briefly", three, now.Add(-30 * time.Second), false},
		{"running long enough", three, now.Add(-time.Minute), true},
		{"the default is ten minutes", unlimited, now.Add(-9 * time.Minute), false},
	} {
		if got := tc.p.stable(tc.since, now); got != tc.want {
			t.Errorf("%s: stable = %v", tc.name, got)
		}
	}
}
