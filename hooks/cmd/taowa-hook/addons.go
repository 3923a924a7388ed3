package main

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"

	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/taowa/taowa/hooks/addons"
	"github.com/taowa/taowa/hooks/join"
	"github.com/taowa/taowa/versions"
)

// addonFlags are the ready command's add-on settings.
type addonFlags struct {
	enabled bool
	config  addons.Config
}

func (a *addonFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&a.enabled, "addons", false, "converge the tenant's add-ons (kube-proxy, CoreDNS) to the flags below")
	fs.BoolVar(&a.config.KubeProxy, "kube-proxy", true, "run kube-proxy on the tenant's nodes")
	fs.IntVar(&a.config.CoreDNSReplicas, "coredns-replicas", 1, "replicas of CoreDNS; 0 turns it off")
	fs.StringVar(&a.config.Registry, "image-registry", "registry.k8s.io", "registry of the kube-proxy and CoreDNS images")
	fs.TextVar(&a.config.PodCIDR, "pod-cidr", netip.MustParsePrefix("10.200.0.0/16"), "the tenant's Pod range")
	fs.TextVar(&a.config.ServiceCIDR, "service-cidr", netip.MustParsePrefix("10.32.0.0/16"), "the tenant's Service range")
	fs.StringVar(&a.config.ClusterDomain, "cluster-domain", "cluster.local", "the tenant's DNS domain")
}

// apply converges the add-ons of the tenant that admin reaches; kube-proxy reaches the apiserver at
// the first address the apiservers advertise (with an ENI, in the tenant's VPC).
func (a *addonFlags) apply(ctx context.Context, admin *rest.Config, client kubernetes.Interface, version versions.Version) error {
	if !a.enabled {
		return nil
	}
	c := a.config
	c.KubernetesVersion = version
	if c.KubeProxy {
		servers, err := join.APIServers(ctx, client)
		if err != nil {
			return fmt.Errorf("add-on kube-proxy: %w", err)
		}
		c.APIServer = "https://" + servers[0]
	}
	dyn, err := dynamic.NewForConfig(admin)
	if err != nil {
		return err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(client.Discovery()))
	return addons.Apply(ctx, dyn, mapper, c, os.Stdout)
}
