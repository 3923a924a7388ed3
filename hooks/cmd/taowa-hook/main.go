// Command taowa-hook holds the programs the tenant-master chart runs as Helm hooks, one
// subcommand each, so that one image serves every hook.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/taowa/taowa/hooks/etcdsnapshot/objectstore"
	"github.com/taowa/taowa/hooks/join"
	"github.com/taowa/taowa/hooks/pki"
	"github.com/taowa/taowa/hooks/rollout"
	"github.com/taowa/taowa/hooks/skew"
	"github.com/taowa/taowa/hooks/tenant"
)

const usage = `usage: taowa-hook <command> [flags]

commands:
  pki          create the tenant's CAs, certificates, service-account key and kubeconfigs as
               Secrets (only what is missing), renew expiring ones, advance a CA rotation
  skew-check   refuse an upgrade or rollback that skips a minor, leaves the supported range or
               leaves a Node's kubelet outside the version-skew policy (exit code 3), judging by
               the versions the tenant's control plane and kubelets run
  ready        wait for the tenant apiserver's /readyz, then bootstrap it as its super-admin
               (cluster-info, node bootstrap RBAC, the admins' and the metrics client's RBAC,
               the helm test identity)
  test         what helm test runs: /version and a restricted identity's create, read, delete
  wait-order   hold a control-plane Pod back until starting it keeps the version-skew policy
  snapshot-volume
               create the etcd snapshot volume when it is missing
  etcd-snapshot
               take a verified etcd snapshot into the snapshot volume and prune old ones
  etcd-restore restore an etcd member from a snapshot, once (init container)
  etcd-snapshot-list
               print the snapshot volume's snapshots as JSON, checked with --verify (what
               taowa snapshots runs in a Pod that mounts the volume)
  approve-kubelet-serving
               approve the tenant kubelets' serving certificate requests that name only their
               Node's own addresses (beside the controller-manager, until stopped)
  steps        run several of these in order in one process, stopping at the first failure:
               steps -- skew-check ... -- pki ... -- etcd-snapshot ...

Run "taowa-hook <command> -h" for a command's flags.
`

// commands are taowa-hook's subcommands, by name.
var commands = map[string]func(context.Context, []string) error{
	"pki":                     runPKI,
	"skew-check":              runSkewCheck,
	"ready":                   runReady,
	"test":                    runTest,
	"wait-order":              runWaitOrder,
	"snapshot-volume":         runSnapshotVolume,
	"etcd-snapshot":           runEtcdSnapshot,
	"etcd-restore":            runEtcdRestore,
	"etcd-snapshot-list":      runEtcdSnapshotList,
	"approve-kubelet-serving": runApproveKubeletServing,
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	name := os.Args[1]
	switch name {
	case "-h", "--help", "help":
		fmt.Print(usage)
		return
	}
	run, ok := commands[name]
	if name == "steps" {
		run, ok = runSteps, true
	}
	if !ok {
		fmt.Fprintf(os.Stderr, "taowa-hook: unknown command %q\n%s", name, usage)
		os.Exit(2)
	}
	if err := run(ctx, os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "taowa-hook %s: %v\n", name, err)
		var storeRefused *objectstore.ConfigError
		if skew.IsRefused(err) || errors.As(err, &storeRefused) {
			os.Exit(exitRefused)
		}
		os.Exit(1)
	}
}

// runSteps runs commands one after another in this one process: `steps -- skew-check ... -- pki
// ... -- etcd-snapshot ...`. It stops at the first that fails, with its error (a refusal stays a
// refusal). One hook Job for several steps saves a Pod start per step.
func runSteps(ctx context.Context, args []string) error {
	steps, err := parseSteps(args)
	if err != nil {
		return err
	}
	for _, step := range steps {
		run := commands[step[0]]
		fmt.Printf("== %s\n", step[0])
		if err := run(ctx, step[1:]); err != nil {
			return fmt.Errorf("%s: %w", step[0], err)
		}
	}
	return nil
}

// parseSteps splits `-- cmd args -- cmd args` into commands, each a known one.
func parseSteps(args []string) ([][]string, error) {
	var steps [][]string
	for _, a := range args {
		switch {
		case a == "--":
			steps = append(steps, nil)
		case len(steps) == 0:
			return nil, fmt.Errorf("want -- before each command, got %q", a)
		default:
			steps[len(steps)-1] = append(steps[len(steps)-1], a)
		}
	}
	for _, step := range steps {
		if len(step) == 0 {
			return nil, errors.New("a -- without a command after it")
		}
		if _, ok := commands[step[0]]; !ok {
			return nil, fmt.Errorf("unknown step %q", step[0])
		}
	}
	if len(steps) == 0 {
		return nil, errors.New("no steps: want -- COMMAND [ARGS] ...")
	}
	return steps, nil
}

// The client-side rate limit of every client a hook makes.
const (
	hookQPS   = 50
	hookBurst = 100
)

// exitRefused is the exit code of a refusal; the chart's Job fails at once on it instead of retrying.
const exitRefused = 3

func runPKI(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("pki", flag.ExitOnError)
	var cfg pki.Config
	var external string
	fs.StringVar(&cfg.Release, "release", "", "the release's full name, prefix of every Secret")
	fs.StringVar(&cfg.Namespace, "namespace", os.Getenv("POD_NAMESPACE"), "namespace of the tenant master")
	fs.StringVar(&cfg.MetaDNSDomain, "meta-dns-domain", "cluster.local", "DNS domain of the meta cluster")
	fs.StringVar(&cfg.TenantServiceCIDR, "tenant-service-cidr", "", "the tenant's Service range")
	fs.StringVar(&cfg.TenantDNSDomain, "tenant-dns-domain", "cluster.local", "the tenant's DNS domain")
	fs.StringVar(&external, "external-addresses", "", "comma-separated extra IPs and DNS names of the apiserver")
	fs.IntVar(&cfg.APIServerPort, "apiserver-port", 6443, "port of the apiserver Service")
	fs.IntVar(&cfg.EtcdReplicas, "etcd-replicas", 3, "etcd members the certificates name")
	fs.StringVar(&cfg.Instance, "instance", "", "the release name (label app.kubernetes.io/instance): "+
		"a re-issued serving certificate is synced into its apiserver Pods at once")
	fs.DurationVar(&cfg.CAValidity, "ca-validity", 10*365*24*time.Hour, "validity of the CAs")
	fs.DurationVar(&cfg.CertValidity, "cert-validity", 365*24*time.Hour, "validity of leaf certificates")
	fs.DurationVar(&cfg.RenewBefore, "renew-before", 0, "renew leaf certificates and kubeconfigs that expire within this time; 0 never renews")
	fs.StringVar(&cfg.CARotation.ID, "ca-rotation-id", "", "name of a CA rotation to advance (see --ca-rotation-phase)")
	fs.StringVar(&cfg.CARotation.Phase, "ca-rotation-phase", "", "phase of the CA rotation to reach: trust, switch or finish")
	restart := fs.Bool("restart", false, "restart (as kubectl rollout restart does) the components that must reload a renewed certificate; "+
		"with a CA rotation, restart those the phase requires and wait until they have rolled out")
	advertised := fs.Bool("tenant-advertised-addresses", false, "once the tenant's apiserver serves, name the addresses it "+
		"advertises (its default/kubernetes endpoints: with an ENI, where nodes join) in its serving certificate; nothing before the first install")
	fs.BoolVar(&cfg.EncryptionAtRest, "encryption-at-rest", false, "write the apiserver's EncryptionConfiguration (a fresh AES key) when it is missing")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig of the meta cluster (default: in-cluster)")
	var objects storeFlags
	objects.register(fs)
	objects.registerSecrets(fs)
	_ = fs.Parse(args)
	if external != "" {
		cfg.ExternalAddresses = strings.Split(external, ",")
	}
	client, err := metaClient(*kubeconfig)
	if err != nil {
		return err
	}
	store, err := objects.storeFromAPI(ctx, client, cfg.Namespace)
	if err != nil {
		return err
	}
	if *advertised {
		// A tenant that does not serve (an upgrade may be its repair) keeps the addresses its
		// certificate names: the post-install and post-upgrade runs add new ones.
		if cfg.AdvertisedAddresses, err = advertisedAddresses(ctx, client, cfg.Namespace, cfg.Release); err != nil {
			fmt.Fprintf(os.Stderr, "warning: %v; the serving certificate keeps the addresses it names\n", err)
		}
	}
	if _, err := pki.Ensure(ctx, client, cfg, os.Stdout); err != nil {
		return err
	}
	if store != nil {
		if err := objects.backupPKI(ctx, store, client, cfg); err != nil {
			return err
		}
	}
	if !*restart {
		return nil
	}
	rolled := map[string]bool{}
	if cfg.CARotation.ID != "" {
		if rolled, err = restartForCARotation(ctx, client, cfg); err != nil {
			return err
		}
	}
	// What runs decides, not what this run renewed: a run that died between a renewal and the
	// restart is made good here.
	stale, err := pki.StaleDeployments(ctx, client, cfg)
	if err != nil {
		return err
	}
	for _, r := range stale {
		w := rollout.Workload{Kind: rollout.Deployment, Namespace: cfg.Namespace, Name: r.Deployment}
		if rolled[w.String()] {
			continue // its Pods are already new, with the renewed certificates
		}
		changed, err := rollout.Restart(ctx, client, w, pki.AnnotationCertificatesIssued, r.IssuedAt)
		if err != nil {
			return err
		}
		if changed {
			fmt.Printf("restarted %s: a Pod started before its certificates were written at %s\n", w, r.IssuedAt)
		}
	}
	return nil
}

// restartForCARotation rolls the components a CA rotation phase requires and waits for them, so
// that the next phase starts only when every Pod trusts, or uses, what this one wrote. The restart
// annotation names the rotation and phase: a repeated run restarts nothing. It returns the
// workloads it rolled.
// advertisedAddresses waits until the tenant apiserver serves and lists the addresses its
// default/kubernetes endpoints advertise; none before an install has created the apiserver's
// Service (a reinstall finds the kept admin kubeconfig, but nothing serves yet).
func advertisedAddresses(ctx context.Context, meta kubernetes.Interface, namespace, fullName string) ([]net.IP, error) {
	_, err := meta.CoreV1().Services(namespace).Get(ctx, fullName+"-apiserver", metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	// Super-admin: after an install the admins' group is bound only by the ready step after this.
	admin, err := tenant.AdminConfig(ctx, meta, namespace, fullName, tenant.SuperAdmin)
	if errors.Is(err, tenant.ErrNoControlPlane) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	client, err := kubernetes.NewForConfig(admin)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := tenant.WaitReady(ctx, client); err != nil {
		return nil, err
	}
	var ips []net.IP
	err = wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		servers, err := join.APIServers(ctx, client)
		if err != nil {
			return false, nil
		}
		ips = ips[:0]
		for _, s := range servers {
			host, _, err := net.SplitHostPort(s)
			if ip := net.ParseIP(host); err == nil && ip != nil {
				ips = append(ips, ip)
			}
		}
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("the tenant %s/%s advertises no apiserver address: %w", namespace, fullName, err)
	}
	fmt.Printf("the apiservers advertise %v\n", ips)
	return ips, nil
}

func restartForCARotation(ctx context.Context, client kubernetes.Interface, cfg pki.Config) (map[string]bool, error) {
	deployments, statefulSets := cfg.RestartsForPhase(cfg.CARotation.Phase)
	var workloads []rollout.Workload
	for _, name := range statefulSets {
		workloads = append(workloads, rollout.Workload{Kind: rollout.StatefulSet, Namespace: cfg.Namespace, Name: name})
	}
	for _, name := range deployments {
		workloads = append(workloads, rollout.Workload{Kind: rollout.Deployment, Namespace: cfg.Namespace, Name: name})
	}
	rolled := map[string]bool{}
	var running []rollout.Workload
	for _, w := range workloads {
		changed, err := rollout.Restart(ctx, client, w, pki.AnnotationCARotation, cfg.CARotation.String())
		if apierrors.IsNotFound(err) {
			continue // before install: it will start with what this phase wrote
		}
		if err != nil {
			return nil, err
		}
		rolled[w.String()] = changed
		running = append(running, w)
	}
	fmt.Printf("CA rotation %s: waiting for %v to roll out\n", cfg.CARotation, running)
	if err := rollout.Wait(ctx, client, running...); err != nil {
		return nil, fmt.Errorf("CA rotation %s: %w", cfg.CARotation, err)
	}
	fmt.Printf("CA rotation %s: rolled out\n", cfg.CARotation)
	return rolled, nil
}

func metaClient(kubeconfig string) (kubernetes.Interface, error) {
	var cfg *rest.Config
	var err error
	if kubeconfig == "" {
		cfg, err = rest.InClusterConfig()
	} else {
		cfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
	}
	if err != nil {
		return nil, fmt.Errorf("meta cluster client: %w", err)
	}
	// client-go's default of 5 requests a second throttled the PKI hook's 30-odd requests to
	// 7 s of a 20 s install; each hook makes a bounded number of requests.
	cfg.QPS, cfg.Burst = hookQPS, hookBurst
	return kubernetes.NewForConfig(cfg)
}
