package controllers

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tributary-dev/tributary/api/v1alpha1"
)

// Metrics are the operator's own: jobs by phase and driver restarts.
// Reconcile counts, errors and durations come from controller-runtime.
type Metrics struct {
	mu       sync.Mutex
	phases   map[types.NamespacedName]v1alpha1.Phase
	jobs     *prometheus.GaugeVec
	restarts prometheus.Counter
}

// NewMetrics registers the metrics with reg (the manager's registry).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		phases: map[types.NamespacedName]v1alpha1.Phase{},
		jobs: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tributary_operator_jobs",
			Help: "StreamingJobs by phase."}, []string{"phase"}),
		restarts: prometheus.NewCounter(prometheus.CounterOpts{Name: "tributary_operator_driver_restarts_total",
			Help: "Driver restarts the operator scheduled after a driver failed."}),
	}
	reg.MustRegister(m.jobs, m.restarts)
	return m
}

func (m *Metrics) observe(job *v1alpha1.StreamingJob) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.phases[types.NamespacedName{Namespace: job.Namespace, Name: job.Name}] = job.Status.Phase
	m.publishLocked()
}

func (m *Metrics) forget(key types.NamespacedName) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.phases, key)
	m.publishLocked()
}

func (m *Metrics) publishLocked() {
	counts := map[v1alpha1.Phase]int{}
	for _, p := range m.phases {
		counts[p]++
	}
	for _, p := range []v1alpha1.Phase{v1alpha1.PhasePending, v1alpha1.PhaseRunning, v1alpha1.PhaseRecovering, v1alpha1.PhaseUpgrading,
		v1alpha1.PhaseSuspended, v1alpha1.PhaseFailed, v1alpha1.PhaseCompleted} {
		m.jobs.WithLabelValues(string(p)).Set(float64(counts[p]))
	}
}

func (m *Metrics) restarted() {
	if m != nil {
		m.restarts.Inc()
	}
}
