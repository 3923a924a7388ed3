// Command taowa-metacluster runs taowa's local meta cluster: `up`, `down` and `status`, plus the
// daemons the cluster starts (`provisioner`, the volume provisioner, and `network-policy`, the
// NetworkPolicy enforcer) and `images`, which builds image tarballs and loads them into the cluster.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/taowa/taowa/hack/metacluster"
)

const usage = `usage: taowa-metacluster <command>

commands:
  up            bring the meta cluster up (idempotent; recovers from a killed run)
  down          remove the meta cluster and everything it created
  status        show the daemons and whether the cluster is healthy
  images [--node NAME] REF=BINARY[:USER] ...
                build single-binary images and import them into the cluster (or a tenant node)
  provisioner   run the local-path volume provisioner (started by up)
  network-policy
                enforce NetworkPolicy Ingress rules with nftables (started by up)
  vpc create|delete NAME [flags]
                a simulated tenant VPC (network namespace taowa-meta-vpc-NAME) whose ENIs are
                attached to the node, for the eni CNI plugin (down deletes every VPC)
  node add NAME --vpc VPC --server HOST:PORT --token TOKEN --discovery-token-ca-cert-hash sha256:HASH
                a tenant worker node in a VPC (its own namespace, containerd and kubelet) that joins
                the tenant master with what ` + "`taowa join`" + ` prints and waits until it is Ready
  node delete NAME
                remove the node and everything it created (down deletes every node)
  objectstore up|down
                the S3 object store for tenants' snapshots (VersityGW, namespace taowa-objectstore,
                bucket taowa-snapshots; its binary from hack/build-tools.sh versitygw); down removes
                it and what it holds
  argocd up|down
                Argo CD's install.yaml in namespace argocd, images made here (its binary from
                hack/build-tools.sh argocd, Debian's redis-server); without the taowa plugin, which
                release/argocd/README.md adds
  gitserver up [REPO ...]|down
                git's smart HTTP in namespace taowa-git (Debian's git), with empty bare
                repositories REPO.git that accept pushes; down removes it and its repositories

environment: TAOWA_STATE (state, default /var/lib/taowa-meta), TAOWA_CACHE (built binaries,
default ~/.cache/taowa), KUBERNETES_VERSION, ETCD_VERSION, COREDNS_VERSION, VERSITYGW_VERSION,
ARGOCD_VERSION.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := metacluster.DefaultConfig()
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "up":
		err = metacluster.Up(ctx, cfg, os.Stdout)
	case "down":
		err = metacluster.Down(cfg, os.Stdout)
	case "status":
		err = metacluster.Status(ctx, cfg, os.Stdout)
	case "images":
		err = importImages(cfg, args)
	case "provisioner":
		fs := flag.NewFlagSet("provisioner", flag.ExitOnError)
		kubeconfig := fs.String("kubeconfig", cfg.KubeconfigPath(), "kubeconfig of the meta cluster")
		volumes := fs.String("volumes", "", "directory that holds the volumes")
		_ = fs.Parse(args)
		err = metacluster.RunProvisioner(ctx, *kubeconfig, *volumes)
	case "network-policy":
		fs := flag.NewFlagSet("network-policy", flag.ExitOnError)
		kubeconfig := fs.String("kubeconfig", cfg.KubeconfigPath(), "kubeconfig of the meta cluster")
		_ = fs.Parse(args)
		err = metacluster.RunNetworkPolicy(ctx, *kubeconfig)
	case "vpc":
		err = vpc(cfg, args)
	case "node":
		err = node(ctx, cfg, args)
	case "objectstore":
		err = objectStore(ctx, cfg, args)
	case "argocd":
		err = argoCD(ctx, cfg, args)
	case "gitserver":
		err = gitServer(ctx, cfg, args)
	default:
		fmt.Fprintf(os.Stderr, "taowa-metacluster: unknown command %q\n%s", cmd, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "taowa-metacluster %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

// importImages takes REF=BINARY[:USER] arguments: each binary becomes a one-file image that runs it.
// --node NAME first imports them into that tenant node instead of the meta node.
func importImages(cfg metacluster.Config, args []string) error {
	node := ""
	if len(args) >= 2 && args[0] == "--node" {
		node, args = args[1], args[2:]
	}
	var images []metacluster.Image
	for _, a := range args {
		ref, src, ok := strings.Cut(a, "=")
		if !ok {
			return fmt.Errorf("argument %q: want REF=BINARY[:USER]", a)
		}
		src, user, _ := strings.Cut(src, ":")
		if user == "" {
			user = "65532"
		}
		images = append(images, metacluster.BinaryImage(ref, src, "/usr/local/bin/"+filepath.Base(src), user))
	}
	if node != "" {
		return cfg.ImportIntoNode(node, images...)
	}
	return cfg.BuildAndImport(images...)
}

// vpc creates or deletes a simulated tenant VPC and prints its ENIs as JSON.
func vpc(cfg metacluster.Config, args []string) error {
	if len(args) < 2 || args[0] != "create" && args[0] != "delete" {
		return fmt.Errorf("usage: vpc create|delete NAME [flags]")
	}
	v := metacluster.VPC{Name: args[1]}
	fs := flag.NewFlagSet("vpc "+args[0], flag.ContinueOnError)
	fs.StringVar(&v.VPCID, "vpc-id", "vpc-"+v.Name, "VPC id")
	fs.StringVar(&v.SubnetID, "subnet-id", "subnet-"+v.Name, "subnet id (the extended resource is eni.taowa.io/<subnet id>)")
	fs.TextVar(&v.VPCCIDR, "vpc-cidr", netip.MustParsePrefix("10.240.0.0/16"), "VPC CIDR")
	fs.TextVar(&v.Subnet, "subnet", netip.MustParsePrefix("10.240.1.0/24"), "subnet of the ENIs; its first address is the gateway")
	fs.TextVar(&v.HostAddress, "host-address", netip.MustParseAddr("10.240.2.10"), "a tenant host in the VPC, outside the subnet")
	fs.IntVar(&v.ENIs, "enis", 2, "ENIs attached to the node")
	fs.Func("secondary-cidr", "a further CIDR routed in the VPC, e.g. the tenant's Pod CIDR (repeatable)", func(s string) error {
		p, err := netip.ParsePrefix(s)
		v.SecondaryCIDRs = append(v.SecondaryCIDRs, p)
		return err
	})
	if err := fs.Parse(args[2:]); err != nil {
		return err
	}
	if args[0] == "delete" {
		return cfg.DeleteVPC(v)
	}
	enis, err := cfg.CreateVPC(v)
	if err != nil {
		return err
	}
	out := json.NewEncoder(os.Stdout)
	out.SetIndent("", "  ")
	return out.Encode(enis)
}

// node adds or deletes a tenant worker node.
func node(ctx context.Context, cfg metacluster.Config, args []string) error {
	if len(args) < 2 || args[0] != "add" && args[0] != "delete" {
		return fmt.Errorf("usage: node add|delete NAME [flags]")
	}
	if args[0] == "delete" {
		if len(args) != 2 {
			return fmt.Errorf("usage: node delete NAME")
		}
		return metacluster.DeleteNode(cfg, args[1], os.Stdout)
	}
	n := metacluster.Node{Name: args[1]}
	fs := flag.NewFlagSet("node add", flag.ContinueOnError)
	fs.StringVar(&n.VPC, "vpc", "", "the VPC (vpc create NAME) the node sits in")
	fs.TextVar(&n.Address, "address", netip.Addr{}, "the node's address in the VPC's subnet (default: the first free one from the 100th)")
	fs.StringVar(&n.KubernetesVersion, "kubernetes-version", "", "the kubelet's version (default: the meta cluster's)")
	fs.StringVar(&n.Server, "server", "", "the tenant apiserver, HOST:PORT, as `taowa join` prints it")
	fs.StringVar(&n.Token, "token", "", "the bootstrap token `taowa join` printed")
	fs.Func("discovery-token-ca-cert-hash", "sha256:HASH of the tenant's CA (repeatable)", func(s string) error {
		n.CACertHashes = append(n.CACertHashes, s)
		return nil
	})
	fs.TextVar(&n.ClusterDNS, "cluster-dns", netip.MustParseAddr("10.32.0.10"), "the tenant's DNS Service address")
	fs.StringVar(&n.ClusterDomain, "cluster-domain", "cluster.local", "the tenant's DNS domain")
	fs.BoolVar(&n.Kubeadm, "kubeadm", false, "join with `kubeadm join` of the kubelet's version (hack/build-k8s.sh VERSION kubeadm), "+
		"which takes the kubelet's configuration, --cluster-dns and --cluster-domain included, from the tenant")
	if err := fs.Parse(args[2:]); err != nil {
		return err
	}
	return metacluster.AddNode(ctx, cfg, n, os.Stdout)
}

func objectStore(ctx context.Context, cfg metacluster.Config, args []string) error {
	switch {
	case len(args) == 1 && args[0] == "up":
		_, err := metacluster.ObjectStoreUp(ctx, cfg, os.Stdout)
		return err
	case len(args) == 1 && args[0] == "down":
		return metacluster.ObjectStoreDown(ctx, cfg)
	}
	return fmt.Errorf("usage: taowa-metacluster objectstore up|down")
}

func argoCD(ctx context.Context, cfg metacluster.Config, args []string) error {
	switch {
	case len(args) == 1 && args[0] == "up":
		return metacluster.ArgoCDUp(ctx, cfg, os.Stdout)
	case len(args) == 1 && args[0] == "down":
		return metacluster.ArgoCDDown(ctx, cfg)
	}
	return fmt.Errorf("usage: taowa-metacluster argocd up|down")
}

func gitServer(ctx context.Context, cfg metacluster.Config, args []string) error {
	switch {
	case len(args) >= 1 && args[0] == "up":
		_, err := metacluster.GitServerUp(ctx, cfg, os.Stdout, args[1:]...)
		return err
	case len(args) == 1 && args[0] == "down":
		return metacluster.GitServerDown(ctx, cfg)
	}
	return fmt.Errorf("usage: taowa-metacluster gitserver up [REPO ...]|down")
}
