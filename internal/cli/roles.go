package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	goruntime "runtime"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/tributary-dev/tributary/internal/operator"
	"github.com/tributary-dev/tributary/runtime/cluster"
)

// The processes of a cluster: the operator, and a job's driver and
// executors. cmd/manager, cmd/driver and cmd/executor run them, and so does
// `tributary manager|driver|executor`, which is how the one image runs
// every role. Every flag can also be set as TRIBUTARY_<FLAG>.

// role is a process of the cluster.
type role struct {
	name, short string
	main        func([]string) int
}

var roles = []role{
	{"manager", "Run the operator (in its Deployment)", ManagerMain},
	{"driver", "Run a job's driver (in its driver pod)", DriverMain},
	{"executor", "Run one of a job's executors (in an executor pod)", ExecutorMain},
}

// RoleMain returns the main of the role named name, for a binary invoked
// through a link of that name.
func RoleMain(name string) (func([]string) int, bool) {
	for _, r := range roles {
		if r.name == name {
			return r.main, true
		}
	}
	return nil, false
}

// roleCommand wraps a role's own flag handling in the CLI.
func roleCommand(r role) *cobra.Command {
	main := r.main
	return &cobra.Command{
		Use:                r.name + " [flags]",
		Short:              r.short,
		DisableFlagParsing: true,
		RunE: func(_ *cobra.Command, args []string) error {
			if code := main(args); code != 0 {
				os.Exit(code)
			}
			return nil
		},
	}
}

// parse binds a role's flags to the environment and parses args.
func parse(fs *pflag.FlagSet, args []string) int {
	if err := BindEnv(fs); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", fs.Name(), err)
		return exitInvalid
	}
	_ = fs.Parse(args)
	return exitOK
}

// DriverMain runs a StreamingJob's driver: it loads the manifest, owns the
// batch clock, tracks the executors and serves status, metrics and probes
// over HTTP.
func DriverMain(args []string) int {
	var o cluster.DriverOptions
	fs := pflag.NewFlagSet("driver", pflag.ExitOnError)
	fs.StringVar(&o.JobFile, "job-file", "", "path of the StreamingJob manifest")
	fs.StringVar(&o.JobYAML, "job", "", "the StreamingJob manifest itself (usually from the environment)")
	fs.StringVar(&o.GRPCAddress, "listen", ":7077", "address executors connect to")
	fs.StringVar(&o.AdvertiseAddress, "advertise", "", "address executors use to reach --listen (default: the listener's)")
	fs.StringVar(&o.HTTPAddress, "http", ":8080", "address of /status, /metrics, /healthz and /readyz")
	fs.StringVar(&o.Auth.Secret, "secret", "", "shared secret that authenticates executors (this or mTLS is required)")
	fs.StringVar(&o.Auth.TLS.CA, "tls-ca", "", "mTLS: CA certificate that signs every process's certificate")
	fs.StringVar(&o.Auth.TLS.Cert, "tls-cert", "", "mTLS: this process's certificate")
	fs.StringVar(&o.Auth.TLS.Key, "tls-key", "", "mTLS: this process's key")
	fs.DurationVar(&o.HeartbeatInterval, "heartbeat-interval", 0, "how often executors heartbeat (default 1s)")
	fs.DurationVar(&o.HeartbeatTimeout, "heartbeat-timeout", 0, "an executor silent this long is lost (default 5 intervals)")
	fs.IntVar(&o.Workers, "workers", 0, "workers for the driver's own tasks: inputs and outputs (default: spec.executors.replicas)")
	fs.BoolVar(&o.DiscardCheckpoints, "discard-checkpoints", false, "delete the job's checkpoints and start from empty instead of resuming")
	fs.StringVar(&o.RestoreID, "restore-id", "", "start once from --restore-from (or from empty without it); a restart with the same ID resumes instead")
	fs.StringVar(&o.RestoreFrom, "restore-from", "", "checkpoint location to start from, such as a savepoint's (needs --restore-id)")
	if code := parse(fs, args); code != exitOK {
		return code
	}
	o.Stdout, o.Logger = os.Stdout, slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cluster.RunDriver(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "driver:", err)
		return exitFailed
	}
	return exitOK
}

// ExecutorMain runs one executor: it registers with the driver, heartbeats
// and serves its blocks to peers.
func ExecutorMain(args []string) int {
	var c cluster.ExecutorConfig
	var listen string
	host, _ := os.Hostname()
	fs := pflag.NewFlagSet("executor", pflag.ExitOnError)
	fs.StringVar(&c.ID, "id", host, "executor ID, stable across restarts of the same pod")
	fs.StringVar(&c.DriverAddress, "driver", "", "driver address, host:port (required)")
	fs.StringVar(&listen, "listen", ":7078", "address that serves this executor's blocks")
	fs.StringVar(&c.AdvertiseAddress, "advertise", "", "address peers use to reach --listen (default: the listener's)")
	fs.StringVar(&c.Auth.Secret, "secret", "", "shared secret (this or mTLS is required)")
	fs.StringVar(&c.Auth.TLS.CA, "tls-ca", "", "mTLS: CA certificate that signs every process's certificate")
	fs.StringVar(&c.Auth.TLS.Cert, "tls-cert", "", "mTLS: this process's certificate")
	fs.StringVar(&c.Auth.TLS.Key, "tls-key", "", "mTLS: this process's key")
	fs.IntVar(&c.Cores, "cores", goruntime.GOMAXPROCS(0), "cores to offer")
	fs.Int64Var(&c.MemoryBytes, "memory-bytes", 1<<30, "memory bound: the Go soft memory limit, and over it new tasks are refused")
	fs.DurationVar(&c.DriverLossTimeout, "driver-loss-timeout", 0, "exit after the driver is unreachable this long (default 30s)")
	if code := parse(fs, args); code != exitOK {
		return code
	}
	c.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	// The collector works harder as the heap nears the bound; beyond it the
	// executor refuses tasks (cluster.Executor.admit).
	debug.SetMemoryLimit(c.MemoryBytes)
	e, err := cluster.NewExecutor(c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "executor:", err)
		return exitInvalid
	}
	lis, err := net.Listen("tcp", listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "executor:", err)
		return exitFailed
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := e.Run(ctx, lis); err != nil {
		fmt.Fprintln(os.Stderr, "executor:", err)
		return exitFailed
	}
	return exitOK
}

// ManagerMain runs the operator.
func ManagerMain(args []string) int {
	var o operator.Options
	fs := pflag.NewFlagSet("manager", pflag.ExitOnError)
	fs.StringVar(&o.Image, "image", "", "image of the job pods that name none (the operator's own)")
	fs.StringSliceVar(&o.Namespaces, "namespaces", nil, "namespaces to watch, comma-separated (default: all)")
	fs.BoolVar(&o.LeaderElection, "leader-elect", false, "elect a leader, for more than one replica")
	fs.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader lease (default: the pod's)")
	fs.StringVar(&o.MetricsAddress, "metrics-bind-address", ":8080", "address of /metrics (0 to disable)")
	fs.StringVar(&o.ProbeAddress, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	fs.IntVar(&o.Concurrency, "concurrency", 4, "jobs reconciled at once")
	if code := parse(fs, args); code != exitOK {
		return code
	}
	ctrl.SetLogger(zap.New())
	if err := operator.Run(ctrl.SetupSignalHandler(), ctrl.GetConfigOrDie(), o); err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
		return exitFailed
	}
	return exitOK
}
