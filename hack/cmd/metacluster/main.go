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
  images REF=BINARY[:USER] ...
                build single-binary images and import them into the cluster
  provisioner   run the local-path volume provisioner (started by up)
  network-policy
                enforce NetworkPolicy Ingress rules with nftables (started by up)
  vpc create|delete NAME [flags]
                a simulated tenant VPC (network namespace taowa-meta-vpc-NAME) whose ENIs are
                attached to the node, for the eni CNI plugin (down deletes every VPC)

environment: TAOWA_STATE (state, default /var/lib/taowa-meta), TAOWA_CACHE (built binaries,
default ~/.cache/taowa), KUBERNETES_VERSION, ETCD_VERSION, COREDNS_VERSION.
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
func importImages(cfg metacluster.Config, args []string) error {
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
