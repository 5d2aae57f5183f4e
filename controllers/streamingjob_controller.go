package controllers

import (
	"context"

	"errors"
	"fmt"
	"github.com/go-logr/logr"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/tributary-dev/tributary/api/v1alpha1"
	"github.com/tributary-dev/tributary/controllers/specs"
	"github.com/tributary-dev/tributary/runtime/cluster"
)

// finalizer holds a deleted job until its driver has stopped gracefully
// and its checkpoints have had their retention policy applied.
const finalizer = "tributary.dev/checkpoints"

// StreamingJobReconciler runs each StreamingJob as a driver pod and
// executor pods, and keeps it running through failures, scaling,
// suspension and upgrades.
type StreamingJobReconciler struct {
	client.Client
	// APIReader reads Secrets, which the manager does not cache.
	APIReader client.Reader
	Events    events.EventRecorder
	// Image runs jobs that name none: the operator's own image.
	Image string
	// Drivers reaches drivers' HTTP endpoints.
	Drivers DriverClient
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Metrics, when set, counts jobs by phase and driver restarts.
	Metrics *Metrics
}

// +kubebuilder:rbac:groups=tributary.dev,resources=streamingjobs,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=tributary.dev,resources=streamingjobs/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=tributary.dev,resources=streamingjobs/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups="",resources=services;configmaps,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;create
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// SetupWithManager registers the reconciler: it watches jobs and the
// objects they own.
func (r *StreamingJobReconciler) SetupWithManager(mgr ctrl.Manager, concurrency int) error {
	if r.Now == nil {
		r.Now = time.Now
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.StreamingJob{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{},
			predicate.AnnotationChangedPredicate{}, deletionPredicate()))).
		Owns(&corev1.Pod{}).
		Owns(&corev1.Service{}).
		Owns(&corev1.ConfigMap{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: concurrency}).
		Complete(r)
}

// scope is what one reconcile read, and what it decided: each phase reads
// and changes it, and the status is derived from it once, at the end.
type scope struct {
	log  logr.Logger
	job  *v1alpha1.StreamingJob
	now  time.Time
	spec v1alpha1.StreamingJobSpec // effective: the spec, or a rollback's
	// specHash covers the fields of spec that change the job itself: a
	// change is an upgrade, applied by spec.upgradeMode.
	specHash string

	driver    *corev1.Pod
	executors map[int]*corev1.Pod
	// driverStatus is the driver's /status, when it answered.
	driverStatus *cluster.Status
	facts        facts

	requeue time.Duration
	// stop ends the reconcile after the current phase without error: the
	// rest waits for something to change.
	stop bool
}

// after asks for another reconcile within d.
func (s *scope) after(d time.Duration) {
	if d <= 0 {
		d = time.Millisecond
	}
	if s.requeue == 0 || d < s.requeue {
		s.requeue = d
	}
}

// Reconcile brings one job towards its spec. The status is derived from
// what it observed and written once, at the end; observedGeneration only
// when every phase succeeded.
func (r *StreamingJobReconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, err error) {
	// The job is read from the API server, not the cache: its status is
	// the operator's memory (restarts, what the pods were started with),
	// and a reconcile that acted on the status before its own last write
	// would act twice.
	job := &v1alpha1.StreamingJob{}
	if err := r.APIReader.Get(ctx, req.NamespacedName, job); err != nil {
		if apierrors.IsNotFound(err) {
			r.Metrics.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if job.DeletionTimestamp.IsZero() && !controllerutil.ContainsFinalizer(job, finalizer) {
		patch := client.MergeFrom(job.DeepCopy())
		controllerutil.AddFinalizer(job, finalizer)
		if err := r.Patch(ctx, job, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("adding the finalizer to job %s: %w", job.Name, err)
		}
		return ctrl.Result{RequeueAfter: time.Millisecond}, nil
	}
	s, err := r.observe(ctx, job)
	if err != nil {
		return ctrl.Result{}, err
	}
	before := job.DeepCopy()
	defer func() {
		if statusErr := r.writeStatus(ctx, s, before, err == nil); statusErr != nil {
			err = errors.Join(err, statusErr)
		}
		if err == nil && s.requeue > 0 {
			res.RequeueAfter = s.requeue
		}
	}()
	if !job.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.finalize(ctx, s)
	}
	for _, phase := range []func(context.Context, *scope) error{
		r.reconcileSpec,       // what to run: the spec, or a rollback's; can it run at all
		r.reconcileObjects,    // the Service, the RPC Secret
		r.reconcileDriver,     // start, restart, stop, upgrade, roll
		r.reconcileExecutors,  // create, replace, scale, drain, roll
		r.reconcileHealth,     // stalls, restarts that ran long enough to reset
		r.reconcileSavepoints, // savepoints on demand
	} {
		if err := phase(ctx, s); err != nil {
			return ctrl.Result{}, err
		}
		if s.stop {
			break
		}
	}
	return ctrl.Result{}, nil
}

// observe reads the job's pods and asks its driver how it is doing.
func (r *StreamingJobReconciler) observe(ctx context.Context, job *v1alpha1.StreamingJob) (*scope, error) {
	s := &scope{log: ctrl.LoggerFrom(ctx), job: job, spec: job.Spec, now: r.Now(), executors: map[int]*corev1.Pod{}}
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.InNamespace(job.Namespace), client.MatchingLabels{specs.LabelJob: job.Name}); err != nil {
		return nil, fmt.Errorf("listing the pods of job %s: %w", job.Name, err)
	}
	for i := range pods.Items {
		pod := &pods.Items[i]
		if !metav1.IsControlledBy(pod, job) {
			continue
		}
		switch pod.Labels[specs.LabelRole] {
		case specs.RoleDriver:
			s.driver = pod
		case specs.RoleExecutor:
			if index, ok := executorIndex(pod); ok {
				s.executors[index] = pod
			}
		}
	}
	if s.driver != nil && podRunning(s.driver) && r.Drivers != nil {
		view, err := r.Drivers.Status(ctx, s.driver)
		if err != nil {
			s.facts.driverUnreachable = err.Error()
		} else {
			s.driverStatus = view
		}
	}
	return s, nil
}

// writeStatus derives the status from what the reconcile observed and
// writes it, once, if it changed.
func (r *StreamingJobReconciler) writeStatus(ctx context.Context, s *scope, before *v1alpha1.StreamingJob, succeeded bool) error {
	job := s.job
	deriveStatus(s)
	if succeeded {
		job.Status.ObservedGeneration = job.Generation
	}
	r.Metrics.observe(job)
	if equality.Semantic.DeepEqual(before.Status, job.Status) {
		return nil
	}
	// The optimistic lock makes a reconcile that read a stale job (the
	// cache lags behind the last status write) fail and run again, rather
	// than count a restart twice.
	patch := client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})
	if err := r.Status().Patch(ctx, job, patch); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("writing the status of job %s: %w", job.Name, err)
	}
	return nil
}

// deletionPredicate lets a job's deletion through: the finalizer waits on it.
func deletionPredicate() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		return !e.ObjectNew.GetDeletionTimestamp().IsZero()
	}}
}
