package operator

import (
	"context"
	"errors"
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/tributary-dev/tributary/api/v1alpha1"
	"github.com/tributary-dev/tributary/controllers"
)

// Options configure the operator.
type Options struct {
	// Image runs the jobs that name none: the operator's own image.
	Image string
	// Namespaces are watched; empty means all.
	Namespaces []string
	// LeaderElection lets one replica of several reconcile at a time.
	LeaderElection          bool
	LeaderElectionNamespace string
	MetricsAddress          string
	ProbeAddress            string
	// Concurrency is how many jobs are reconciled at once.
	Concurrency int
}

// Scheme holds the types the operator reads and writes.
func Scheme() (*runtime.Scheme, error) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	return scheme, nil
}

// New returns the operator's manager, with the reconciler registered.
func New(cfg *rest.Config, o Options) (manager.Manager, error) {
	scheme, err := Scheme()
	if err != nil {
		return nil, err
	}
	if o.Image == "" {
		if o.Image, err = ownImage(cfg, scheme); err != nil {
			return nil, err
		}
	}
	cacheOpts := cache.Options{}
	if len(o.Namespaces) > 0 {
		cacheOpts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range o.Namespaces {
			cacheOpts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme,
		Cache:                         cacheOpts,
		Metrics:                       metricsserver.Options{BindAddress: o.MetricsAddress},
		HealthProbeBindAddress:        o.ProbeAddress,
		LeaderElection:                o.LeaderElection,
		LeaderElectionID:              "tributary-operator.tributary.dev",
		LeaderElectionNamespace:       o.LeaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return nil, fmt.Errorf("creating the manager: %w", err)
	}
	r := &controllers.StreamingJobReconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Events:    mgr.GetEventRecorder("tributary-operator"),
		Image:     o.Image,
		Drivers:   controllers.NewHTTPDriverClient(),
		Metrics:   controllers.NewMetrics(metrics.Registry),
	}
	if err := r.SetupWithManager(mgr, max(o.Concurrency, 1)); err != nil {
		return nil, fmt.Errorf("setting up the StreamingJob controller: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return nil, err
	}
	return mgr, nil
}

// Run runs the operator until ctx ends.
func Run(ctx context.Context, cfg *rest.Config, o Options) error {
	mgr, err := New(cfg, o)
	if err != nil {
		return err
	}
	return mgr.Start(ctx)
}

// ownImage is the image of the operator's own pod (POD_NAME and
// POD_NAMESPACE, from the downward API): job pods run it unless a job
// names an image. Reading it from the pod keeps it right however the
// install changed the image (a kustomize overlay, a Helm value).
func ownImage(cfg *rest.Config, scheme *runtime.Scheme) (string, error) {
	name, ns := os.Getenv("POD_NAME"), os.Getenv("POD_NAMESPACE")
	if name == "" || ns == "" {
		return "", errors.New("the operator needs the image of job pods that name none: --image, TRIBUTARY_IMAGE, or POD_NAME and POD_NAMESPACE to read its own")
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return "", err
	}
	var pod corev1.Pod
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &pod); err != nil {
		return "", fmt.Errorf("reading the operator's own pod %s/%s for its image: %w", ns, name, err)
	}
	for _, ctr := range pod.Spec.Containers {
		if ctr.Name == "manager" {
			return ctr.Image, nil
		}
	}
	return "", fmt.Errorf("the operator's pod %s/%s has no container named manager", ns, name)
}
