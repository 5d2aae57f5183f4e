// Command manager runs the Tributary operator: it reconciles StreamingJobs
// into driver and executor pods. Every flag can also be set as
// TRIBUTARY_<FLAG>.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/pflag"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/tributary-dev/tributary/internal/cli"
	"github.com/tributary-dev/tributary/internal/operator"
)

func main() {
	var o operator.Options
	fs := pflag.NewFlagSet("manager", pflag.ExitOnError)
	fs.StringVar(&o.Image, "image", "", "image of the job pods that name none (the operator's own)")
	fs.StringSliceVar(&o.Namespaces, "namespaces", nil, "namespaces to watch, comma-separated (default: all)")
	fs.BoolVar(&o.LeaderElection, "leader-elect", false, "elect a leader, for more than one replica")
	fs.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader lease (default: the pod's)")
	fs.StringVar(&o.MetricsAddress, "metrics-bind-address", ":8080", "address of /metrics (0 to disable)")
	fs.StringVar(&o.ProbeAddress, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	fs.IntVar(&o.Concurrency, "concurrency", 4, "jobs reconciled at once")
	zapOpts := zap.Options{}
	if err := cli.BindEnv(fs); err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
		os.Exit(2)
	}
	_ = fs.Parse(os.Args[1:])
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	if err := operator.Run(ctrl.SetupSignalHandler(), ctrl.GetConfigOrDie(), o); err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
		os.Exit(1)
	}
}
