package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/taowa/taowa/hooks/kubeletcsr"
)

// runApproveKubeletServing runs beside the tenant's controller-manager, with its kubeconfig.
func runApproveKubeletServing(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("approve-kubelet-serving", flag.ExitOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig of the tenant apiserver (the controller-manager's)")
	interval := fs.Duration("interval", 2*time.Second, "how often pending requests are judged")
	_ = fs.Parse(args)
	if *kubeconfig == "" {
		return errors.New("--kubeconfig is required")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return fmt.Errorf("tenant kubeconfig %s: %w", *kubeconfig, err)
	}
	cfg.UserAgent = "taowa-kubelet-serving-approver"
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	kubeletcsr.Run(ctx, client, *interval, os.Stdout)
	return nil
}
