// Command taowa-eni-agent runs on every node that hosts tenant master Pods (a DaemonSet, see
// charts/taowa-eni-agent): it discovers the ENIs attached to the node through a provider, keeps
// the inventory the eni CNI plugin reads, and advertises the node's ENIs per subnet as the
// extended resource eni.taowa.io/<subnet id>.
//
//	taowa-eni-agent --provider local --node-name node-1 --interval 30s
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/taowa/taowa/cni-eni/agent"
	"github.com/taowa/taowa/cni-eni/inventory"
	"github.com/taowa/taowa/cni-eni/provider/local"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "taowa-eni-agent:", err)
		os.Exit(1)
	}
}

func run() error {
	inventoryPath := flag.String("inventory", inventory.DefaultPath, "inventory file the eni plugin reads")
	provider := flag.String("provider", "local", "where ENIs are discovered: local (the simulated VPCs of eni-local and the local meta cluster)")
	localRecords := flag.String("local-records", "", "records of the local provider (default: local-vpcs next to the inventory)")
	nodeName := flag.String("node-name", os.Getenv("NODE_NAME"), "this node's name (default: $NODE_NAME)")
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig (default: in-cluster)")
	interval := flag.Duration("interval", 30*time.Second, "time between two syncs")
	once := flag.Bool("once", false, "sync once and exit")
	flag.Parse()

	if *nodeName == "" {
		return fmt.Errorf("--node-name or $NODE_NAME is required")
	}
	var p agent.Provider
	switch *provider {
	case "local":
		dir := *localRecords
		if dir == "" {
			dir = local.RecordDir(*inventoryPath)
		}
		p = local.Provider{Dir: dir}
	default:
		return fmt.Errorf("--provider %q: the providers are: local", *provider)
	}
	cfg, err := restConfig(*kubeconfig)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	a := &agent.Agent{Provider: p, Store: inventory.NewStore(*inventoryPath), Client: client, NodeName: *nodeName, Log: os.Stdout}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if *once {
		return a.Sync(ctx)
	}
	return a.Run(ctx, *interval)
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		return clientcmd.BuildConfigFromFlags("", kubeconfig)
	}
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return nil, fmt.Errorf("in-cluster configuration (or pass --kubeconfig): %w", err)
	}
	return cfg, nil
}
