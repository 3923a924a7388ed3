// Command taowa-operator reconciles taowa.io/v1alpha1 Clusters into Helm releases of the
// tenant-master chart it carries (package charts); charts/taowa-operator installs it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	helmcli "helm.sh/helm/v3/pkg/cli"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"

	"github.com/taowa/taowa/charts"
	"github.com/taowa/taowa/release/api/v1alpha1"
	"github.com/taowa/taowa/release/operator"
	"github.com/taowa/taowa/release/tenants"
)

type options struct {
	namespace      string
	workers        int
	timeout        time.Duration
	resync         time.Duration
	shutdownGrace  time.Duration
	httpAddress    string
	leaderElect    bool
	leaseNamespace string
	leaseName      string
	helmDebug      bool
	kubeconfig     string
}

func main() {
	var o options
	flag.StringVar(&o.namespace, "namespace", "", "namespace whose Clusters to reconcile (default: every namespace)")
	flag.IntVar(&o.workers, "workers", 2, "Clusters reconciled in parallel")
	flag.DurationVar(&o.timeout, "timeout", 15*time.Minute, "time one Helm operation (hooks and wait included) may take")
	flag.DurationVar(&o.resync, "resync", time.Minute, "how often every Cluster's status is refreshed")
	flag.DurationVar(&o.shutdownGrace, "shutdown-grace", 5*time.Minute,
		"on SIGTERM, how long the Helm operations in progress may take to finish before they are cancelled (keep it below the Pod's terminationGracePeriodSeconds)")
	flag.StringVar(&o.httpAddress, "http-address", ":8080", "address of /metrics, /healthz and /readyz")
	flag.BoolVar(&o.leaderElect, "leader-elect", true, "run only while holding the leader Lease, so that replicas can stand by")
	flag.StringVar(&o.leaseNamespace, "leader-election-namespace", os.Getenv("POD_NAMESPACE"), "namespace of the leader Lease (default: $POD_NAMESPACE)")
	flag.StringVar(&o.leaseName, "leader-election-name", "taowa-operator", "name of the leader Lease")
	flag.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig of the meta cluster (default: in-cluster, or $KUBECONFIG)")
	flag.BoolVar(&o.helmDebug, "helm-debug", false, "log Helm's own messages")
	flag.Parse()

	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	// Ends at SIGTERM: the operator stops taking work, and lets what runs finish (--shutdown-grace).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o, log)
	stop()
	if err != nil {
		log.Error("taowa-operator", "error", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, log *slog.Logger) error {
	settings := helmcli.New()
	if o.kubeconfig != "" {
		settings.KubeConfig = o.kubeconfig
	}
	restConfig, err := settings.RESTClientGetter().ToRESTConfig()
	if err != nil {
		return fmt.Errorf("meta cluster client configuration: %w", err)
	}
	kube, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(restConfig)
	if err != nil {
		return err
	}
	cluster := tenants.KubeCluster{Settings: settings}
	if o.helmDebug {
		cluster.Debug = os.Stderr
	}
	manager, err := tenants.New(tenants.Config{Cluster: cluster, LoadChart: charts.TenantMaster, Progress: logWriter{log}})
	if err != nil {
		return err
	}
	// Events of the operations that finish after SIGTERM are still recorded.
	broadcaster := record.NewBroadcaster(record.WithContext(context.WithoutCancel(ctx)))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: kube.CoreV1().Events("")})
	defer broadcaster.Shutdown()

	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	controller := &operator.Controller{
		Reconciler: &operator.Reconciler{
			Tenants:  manager,
			Kube:     kube,
			Clusters: dyn.Resource(v1alpha1.Resource),
			Events:   broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "taowa-operator"}),
			Rollout:  tenants.Rollout{Wait: true, Atomic: true, Timeout: o.timeout},
			Metrics:  operator.NewTenantMetrics(registry),
		},
		Dynamic:       dyn,
		Namespace:     o.namespace,
		Workers:       o.workers,
		Resync:        o.resync,
		ShutdownGrace: o.shutdownGrace,
		Metrics:       operator.NewMetrics(registry),
		Log:           log,
	}
	server := serveHTTP(o.httpAddress, registry, log)
	defer server.Close()

	if !o.leaderElect {
		// The single replica: nothing but SIGTERM ends its work.
		return controller.Run(context.WithoutCancel(ctx), ctx)
	}
	if o.leaseNamespace == "" {
		return errors.New("--leader-election-namespace (or $POD_NAMESPACE) is required with --leader-elect")
	}
	identity, err := os.Hostname()
	if err != nil {
		return err
	}
	// A lost Lease returns an error: the process exits, so that the Pod restarts and stands by
	// rather than reconciling beside a new leader.
	return operator.Lead(ctx, leaderelection.LeaderElectionConfig{
		Lock: &resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Namespace: o.leaseNamespace, Name: o.leaseName},
			Client:     kube.CoordinationV1(),
			LockConfig: resourcelock.ResourceLockConfig{Identity: identity},
		},
		LeaseDuration: 30 * time.Second,
		RenewDeadline: 20 * time.Second,
		RetryPeriod:   5 * time.Second,
		Name:          o.leaseName,
	}, controller.Run, log)
}

func serveHTTP(address string, registry *prometheus.Registry, log *slog.Logger) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	ok := func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") }
	mux.HandleFunc("/healthz", ok)
	mux.HandleFunc("/readyz", ok)
	server := &http.Server{Addr: address, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := server.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server", "address", address, "error", err)
		}
	}()
	return server
}

// logWriter turns the Manager's progress lines into log records.
type logWriter struct{ log *slog.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.log.Info(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
