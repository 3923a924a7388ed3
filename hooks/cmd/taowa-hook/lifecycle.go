package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/taowa/taowa/hooks/bootstrap"
	"github.com/taowa/taowa/hooks/helmtest"
	"github.com/taowa/taowa/hooks/join"
	"github.com/taowa/taowa/hooks/skew"
	"github.com/taowa/taowa/hooks/tenant"
	"github.com/taowa/taowa/versions"
)

// releaseFlags are the flags every lifecycle command shares.
type releaseFlags struct {
	fullName, namespace, kubeconfig, version string
}

func (r *releaseFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&r.fullName, "release", "", "the release's full name, prefix of its objects")
	fs.StringVar(&r.namespace, "namespace", os.Getenv("POD_NAMESPACE"), "namespace of the tenant master")
	fs.StringVar(&r.kubeconfig, "kubeconfig", "", "kubeconfig of the meta cluster (default: in-cluster)")
	fs.StringVar(&r.version, "kubernetes-version", "", "the Kubernetes version the release asks for, X.Y.Z")
}

func (r *releaseFlags) parse(fs *flag.FlagSet, args []string) (versions.Version, kubernetes.Interface, error) {
	_ = fs.Parse(args)
	if r.fullName == "" || r.namespace == "" || r.version == "" {
		return versions.Version{}, nil, errors.New("--release, --namespace and --kubernetes-version are required")
	}
	v, err := versions.Parse(r.version)
	if err != nil {
		return versions.Version{}, nil, fmt.Errorf("--kubernetes-version: %w", err)
	}
	meta, err := metaClient(r.kubeconfig)
	return v, meta, err
}

func runSkewCheck(ctx context.Context, args []string) error {
	var r releaseFlags
	fs := flag.NewFlagSet("skew-check", flag.ExitOnError)
	r.register(fs)
	etcdReplicas := fs.Int("etcd-replicas", 0, "the etcd members the release asks for: refused when the running tenant has another number (0: not checked)")
	hibernate := fs.Bool("hibernated", false, "the release puts the tenant to sleep: refused with a version change, as is a version change of a sleeping tenant")
	target, meta, err := r.parse(fs, args)
	if err != nil {
		return err
	}
	if *etcdReplicas > 0 {
		if err := skew.CheckEtcdMembers(ctx, meta, r.namespace, r.fullName, *etcdReplicas); err != nil {
			return err
		}
	}
	running, err := skew.Observe(ctx, meta, r.namespace, r.fullName, func(msg string) { fmt.Println("warning:", msg) })
	if err != nil {
		return err
	}
	if len(running) == 0 {
		fmt.Printf("no control plane runs yet: nothing to compare Kubernetes %s with\n", target)
		return nil
	}
	if err := skew.Check(versions.Builtin(), target, running); err != nil {
		return err
	}
	asleep, err := skew.Asleep(ctx, meta, r.namespace, r.fullName)
	if err != nil {
		return err
	}
	if err := skew.CheckHibernation(target, running, asleep, *hibernate); err != nil {
		return err
	}
	for _, rv := range running {
		fmt.Printf("ok: %s -> %s (running version read from %s)\n", rv.Version, target, rv.Source)
	}
	if asleep {
		// A sleeping tenant has no Nodes to read (its apiserver is down), and cannot have gained any.
		fmt.Println("ok: the tenant is hibernated; it wakes at the version it slept at")
		return nil
	}
	kubelets, err := skew.ObserveKubelets(ctx, meta, r.namespace, r.fullName)
	if err != nil {
		// As with /version: a tenant that does not serve may be what this step repairs.
		fmt.Printf("warning: cannot read the tenant's Nodes (%v); their kubelets' versions are not checked\n", err)
		return nil
	}
	if err := skew.CheckNodes(target, running, kubelets); err != nil {
		return err
	}
	fmt.Printf("ok: the kubelets of %d Nodes allow the control plane at %s\n", len(kubelets), target)
	return nil
}

func runReady(ctx context.Context, args []string) error {
	var r releaseFlags
	fs := flag.NewFlagSet("ready", flag.ExitOnError)
	r.register(fs)
	server := fs.String("cluster-info-server", "", "apiserver URL published to joining nodes in kube-public/cluster-info")
	advertised := fs.Bool("cluster-info-advertised", false, "publish the first address the apiservers advertise instead (with an ENI: "+
		"in the tenant's VPC, where `kubeadm join` does its TLS bootstrap)")
	serverTLSBootstrap := fs.Bool("kubelet-server-tls-bootstrap", false, "kubelets configured by `kubeadm join` ask the tenant for their "+
		"serving certificates (the apiserver verifies kubelets)")
	timeout := fs.Duration("timeout", 5*time.Minute, "how long to wait for /readyz")
	instance := fs.String("instance", "", "the release name (label app.kubernetes.io/instance), with --snapshot-volume-size")
	var volume volumeFlags
	volume.register(fs, "create the snapshot volume of this size when it is missing (after an install: "+
		"its first use is the first scheduled or pre-upgrade snapshot)")
	var addonsF addonFlags
	addonsF.register(fs)
	version, meta, err := r.parse(fs, args)
	if err != nil {
		return err
	}
	if *server == "" {
		return errors.New("--cluster-info-server is required")
	}
	// Super-admin: bootstrap.Apply binds the admins' group, which until then is nobody.
	admin, err := tenant.AdminConfig(ctx, meta, r.namespace, r.fullName, tenant.SuperAdmin)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(admin)
	if err != nil {
		return err
	}
	waitCtx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	start := time.Now()
	if err := tenant.WaitReady(waitCtx, client); err != nil {
		return err
	}
	fmt.Printf("tenant apiserver ready after %.0fs\n", time.Since(start).Seconds())
	if *advertised {
		servers, err := join.APIServers(ctx, client)
		if err != nil {
			return err
		}
		*server = "https://" + servers[0]
	}
	if err := bootstrap.Apply(ctx, client, bootstrap.Cluster{
		Server: *server, CAPEM: admin.CAData, KubernetesVersion: version,
		PodCIDR: addonsF.config.PodCIDR, ServiceCIDR: addonsF.config.ServiceCIDR, ClusterDomain: addonsF.config.ClusterDomain,
		ServerTLSBootstrap: *serverTLSBootstrap,
	}); err != nil {
		return err
	}
	fmt.Println("bootstrapped: cluster-info, kubeadm join configuration, node bootstrap RBAC, cluster-admins, metrics reader, helm test identity")
	if err := addonsF.apply(ctx, admin, client, version); err != nil {
		return err
	}
	if volume.size != "" {
		if err := volume.ensure(ctx, meta, r.fullName, *instance, r.namespace); err != nil {
			return err
		}
	}
	// What a client that dials the Service's address sees: the serving certificate must name it.
	byIP, err := tenant.ByClusterIP(ctx, meta, r.namespace, r.fullName, admin)
	if err != nil {
		return err
	}
	ipClient, err := kubernetes.NewForConfig(byIP)
	if err != nil {
		return err
	}
	if err := tenant.WaitReady(waitCtx, ipClient); err != nil {
		return fmt.Errorf("through the ClusterIP (%s): %w", byIP.Host, err)
	}
	fmt.Printf("tenant apiserver ready through %s, TLS verified against the address, after %.1fs\n", byIP.Host, time.Since(start).Seconds())
	return nil
}

// runTest needs no meta cluster access: the test Pod mounts the admin kubeconfig Secret, so that
// `helm test` has no RBAC hooks of its own (Helm's --logs reads every test hook as a Pod).
func runTest(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("test", flag.ExitOnError)
	kubeconfig := fs.String("admin-kubeconfig", "", "the tenant's admin kubeconfig")
	version := fs.String("kubernetes-version", "", "the Kubernetes version the release asks for, X.Y.Z")
	_ = fs.Parse(args)
	want, err := versions.Parse(*version)
	if err != nil {
		return fmt.Errorf("--kubernetes-version: %w", err)
	}
	admin, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return fmt.Errorf("--admin-kubeconfig: %w", err)
	}
	return helmtest.Run(ctx, admin, want, os.Stdout)
}

func runWaitOrder(ctx context.Context, args []string) error {
	var r releaseFlags
	fs := flag.NewFlagSet("wait-order", flag.ExitOnError)
	r.register(fs)
	instance := fs.String("instance", "", "the release name (label app.kubernetes.io/instance)")
	component := fs.String("component", "", "this Pod's component: kube-apiserver, kube-controller-manager or kube-scheduler")
	etcdServers := fs.String("etcd-servers", "", "an apiserver's --etcd-servers: it starts once one of them accepts a connection")
	version, meta, err := r.parse(fs, args)
	if err != nil {
		return err
	}
	if *instance == "" || *component == "" {
		return errors.New("--instance and --component are required")
	}
	log := func(msg string) { fmt.Println(msg) }
	var servers []string
	if *etcdServers != "" {
		servers = strings.Split(*etcdServers, ",")
	}
	if err := skew.WaitOrder(ctx, meta, r.namespace, *instance, *component, version, servers, log); err != nil {
		return err
	}
	fmt.Printf("%s %s may start\n", *component, version)
	return nil
}
