package cluster

import (
	"encoding/json"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tributary-dev/tributary/runtime"
)

// Status is what the driver's /status endpoint returns; the operator reads it.
type Status struct {
	Job string `json:"job"`
	// Execution says where tasks run: "executors" (all stages but inputs
	// and output commits, which run in the driver).
	Execution          string       `json:"execution"`
	LastCompletedBatch runtime.Time `json:"lastCompletedBatch"`
	PendingBatches     int          `json:"pendingBatches"`
	CompletedBatches   int64        `json:"completedBatches"`
	TotalRecords       int64        `json:"totalRecords"`
	// LagMillis is how far the newest committed batch is behind the
	// clock: the batch interval when the job keeps up.
	LagMillis int64            `json:"lagMillis"`
	Executors []ExecutorStatus `json:"executors"`
	// Sources are the job's inputs.
	Sources []runtime.SourceStatus `json:"sources"`
	// Receivers are the receiver-based inputs and the executors that run
	// them and hold their replicas.
	Receivers []ReceiverStatus `json:"receivers"`
	// Batches are the most recent batches' metrics, oldest first.
	Batches []runtime.BatchInfo `json:"batches"`
	// Checkpoints says where the job's checkpoints are, which one the
	// driver recovered from, and any it had to skip as unreadable.
	Checkpoints *runtime.CheckpointStatus `json:"checkpoints,omitempty"`
}

// statusBatches is how many recent batches /status includes: enough to see
// a trend, bounded so that the document stays small.
const statusBatches = 20

// HTTPServer serves the driver's status, metrics and probes.
type HTTPServer struct {
	job     string
	driver  *Driver
	ctx     *runtime.Context
	ready   atomic.Bool
	handler http.Handler

	mu        sync.Mutex
	stop      func()
	savepoint string // taken at the stop asked for
}

// NewHTTPServer returns the handler for /status, /metrics, /healthz and
// /readyz of a driver running ctx.
func NewHTTPServer(job string, d *Driver, ctx *runtime.Context) *HTTPServer {
	s := &HTTPServer{job: job, driver: d, ctx: ctx}
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}), &collector{s: s})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.Status())
	})
	mux.HandleFunc("POST /savepoint", s.serveSavepoint)
	mux.HandleFunc("POST /stop", s.serveStop)
	mux.HandleFunc("POST /executors/{id}/drain", s.serveDrain)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !s.ready.Load() {
			http.Error(w, "the job has not started", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	s.handler = mux
	return s
}

// OnStop sets what a POST /stop calls: a graceful stop of the job.
func (s *HTTPServer) OnStop(stop func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stop = stop
}

func (s *HTTPServer) stopSavepoint() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.savepoint
}

// serveSavepoint takes a savepoint of the running job, named by the query
// parameter name, and answers where it went once it is written.
func (s *HTTPServer) serveSavepoint(w http.ResponseWriter, r *http.Request) {
	info, err := s.ctx.Savepoint(r.Context(), r.URL.Query().Get("name"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

// serveStop stops the job gracefully: the batches already cut finish and a
// last checkpoint is written, then, with the query parameter savepoint, it
// is copied to that savepoint. The driver exits with an error if the
// savepoint could not be taken. It answers at once; the process exits when
// the job has stopped.
func (s *HTTPServer) serveStop(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stop == nil {
		http.Error(w, "this driver cannot be stopped over HTTP", http.StatusNotImplemented)
		return
	}
	if name := r.URL.Query().Get("savepoint"); name != "" {
		if err := s.ctx.SavepointOnStop(name); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.savepoint = name
	}
	s.stop()
	writeJSON(w, http.StatusAccepted, map[string]string{"stopping": s.job, "savepoint": s.savepoint})
}

// serveDrain stops giving tasks to an executor, so that it can be removed
// without failing any: it answers how many it still runs, and drained once
// none.
func (s *HTTPServer) serveDrain(w http.ResponseWriter, r *http.Request) {
	running, ok := s.driver.Drain(r.PathValue("id"))
	if !ok {
		http.Error(w, "no such executor", http.StatusNotFound)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"runningTasks": running, "drained": running == 0})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// SetReady marks the job started (readiness).
func (s *HTTPServer) SetReady(ready bool) { s.ready.Store(ready) }

// ServeHTTP implements http.Handler.
func (s *HTTPServer) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Status returns the current status document.
func (s *HTTPServer) Status() Status {
	m := s.ctx.Metrics()
	batches := m.Batches
	if len(batches) > statusBatches {
		batches = batches[len(batches)-statusBatches:]
	}
	st := Status{
		Job: s.job, Execution: "executors",
		LastCompletedBatch: m.LastCompleted, PendingBatches: m.PendingBatches, LagMillis: s.ctx.Lag().Milliseconds(),
		CompletedBatches: m.CompletedBatches, TotalRecords: m.TotalRecords,
		Executors: s.driver.Executors(), Sources: s.ctx.Sources(), Receivers: s.driver.Receivers(), Batches: batches,
	}
	if ck, ok := s.ctx.Checkpoints(); ok {
		st.Checkpoints = &ck
	}
	return st
}

// collector exports the job's batch metrics and the executor counts.
type collector struct{ s *HTTPServer }

var (
	descBatches    = prometheus.NewDesc("tributary_batches_completed_total", "Batches committed.", nil, nil)
	descRecords    = prometheus.NewDesc("tributary_input_records_total", "Records received by all sources.", nil, nil)
	descPending    = prometheus.NewDesc("tributary_batches_pending", "Batches cut but not yet committed.", nil, nil)
	descLastBatch  = prometheus.NewDesc("tributary_last_completed_batch_time_seconds", "Batch time of the newest committed batch.", nil, nil)
	descProcessing = prometheus.NewDesc("tributary_batch_processing_seconds", "Processing time of the newest committed batch.", nil, nil)
	descScheduling = prometheus.NewDesc("tributary_batch_scheduling_delay_seconds", "Scheduling delay of the newest committed batch.", nil, nil)
	descTotalDelay = prometheus.NewDesc("tributary_batch_total_delay_seconds", "Total delay of the newest committed batch.", nil, nil)
	descExecutors  = prometheus.NewDesc("tributary_executors", "Executors by state.", []string{"state"}, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descBatches, descRecords, descPending, descLastBatch, descProcessing, descScheduling, descTotalDelay, descExecutors} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	m := c.s.ctx.Metrics()
	ch <- prometheus.MustNewConstMetric(descBatches, prometheus.CounterValue, float64(m.CompletedBatches))
	ch <- prometheus.MustNewConstMetric(descRecords, prometheus.CounterValue, float64(m.TotalRecords))
	ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(m.PendingBatches))
	ch <- prometheus.MustNewConstMetric(descLastBatch, prometheus.GaugeValue, float64(m.LastCompleted)/1000)
	if n := len(m.Batches); n > 0 {
		last := m.Batches[n-1]
		ch <- prometheus.MustNewConstMetric(descProcessing, prometheus.GaugeValue, last.ProcessingTime.Seconds())
		ch <- prometheus.MustNewConstMetric(descScheduling, prometheus.GaugeValue, last.SchedulingDelay.Seconds())
		ch <- prometheus.MustNewConstMetric(descTotalDelay, prometheus.GaugeValue, last.TotalDelay.Seconds())
	}
	alive, lost := 0, 0
	for _, e := range c.s.driver.Executors() {
		if e.State == ExecutorAlive {
			alive++
		} else {
			lost++
		}
	}
	ch <- prometheus.MustNewConstMetric(descExecutors, prometheus.GaugeValue, float64(alive), ExecutorAlive)
	ch <- prometheus.MustNewConstMetric(descExecutors, prometheus.GaugeValue, float64(lost), ExecutorLost)
}
