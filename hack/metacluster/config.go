// Package metacluster runs taowa's local meta cluster: a real single-node Kubernetes (etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler, containerd, kubelet, kube-proxy,
// CoreDNS and a local-path volume provisioner) inside its own network namespace, with every byte
// of state under one directory, so that it collides with nothing on the host and `Down` can remove
// all of it.
package metacluster

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// Config says where the cluster lives and which binaries it runs. Zero values take the defaults of
// DefaultConfig.
type Config struct {
	// StateDir holds all of the cluster's state: PKI, etcd data, containerd, kubelet, volumes,
	// logs and PID files. Down removes it.
	StateDir string
	// CacheDir holds the built binaries and image tarballs, keyed by version. Down keeps it.
	CacheDir string
	// KubernetesVersion is the version of every Kubernetes binary, e.g. v1.37.2.
	KubernetesVersion string
	EtcdVersion       string
	CoreDNSVersion    string
	// VersityGWVersion is the object store's (ObjectStoreUp).
	VersityGWVersion string
	// ArgoCDVersion is Argo CD's (ArgoCDUp).
	ArgoCDVersion string
	// CNIBinDir holds the bridge, host-local, portmap and loopback plugins.
	CNIBinDir string
	// BinDir holds what `make build` builds for the cluster's images (pause, gitserver); by
	// default the directory of the running program, which make build writes there too.
	BinDir string
}

// Fixed network layout. The cluster's namespace is joined to the host by one veth pair; the host
// routes the Pod and Service ranges into it, so host tools (kubectl, helm, tests) reach Pods and
// ClusterIPs directly.
const (
	NetnsName    = "taowa-meta"
	HostLink     = "taowa-meta0" // host end of the veth pair
	ClusterLink  = "eth0"        // its end inside the namespace
	NodeName     = "taowa-meta"
	ClusterName  = "taowa-meta"
	APIPort      = 6443
	DNSDomain    = "cluster.local"
	PauseImage   = "registry.k8s.io/pause:3.10.1"
	BusyboxImage = "docker.io/library/busybox:1.35.0"
	// StorageClassName is the default StorageClass; its provisioner runs beside the kubelet.
	StorageClassName = "local-path"
	ProvisionerName  = "taowa.io/local-path"
	// CgroupRoot is the kubelet's cgroup root in every hierarchy: all Pods live below it.
	CgroupRoot = "/taowa-meta"
)

var (
	hostIP        = net.IPv4(10, 250, 250, 1)
	NodeIP        = net.IPv4(10, 250, 250, 2)
	linkPrefixLen = 30
	PodCIDR       = mustCIDR("10.244.0.0/16")
	NodePodCIDR   = mustCIDR("10.244.0.0/24")
	ServiceCIDR   = mustCIDR("10.96.0.0/16")
	APIServiceIP  = net.IPv4(10, 96, 0, 1)
	DNSServiceIP  = net.IPv4(10, 96, 0, 10)
)

func mustCIDR(s string) *net.IPNet {
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	return n
}

// DefaultStateDir is where the cluster lives unless TAOWA_STATE says otherwise.
const DefaultStateDir = "/var/lib/taowa-meta"

// DefaultConfig reads TAOWA_STATE, TAOWA_CACHE and the versions from the environment (the
// Makefile exports hack/versions.env).
func DefaultConfig() Config {
	home, _ := os.UserHomeDir()
	self, _ := os.Executable()
	return Config{
		BinDir:            filepath.Dir(self),
		StateDir:          envOr("TAOWA_STATE", DefaultStateDir),
		CacheDir:          envOr("TAOWA_CACHE", filepath.Join(home, ".cache", "taowa")),
		KubernetesVersion: envOr("KUBERNETES_VERSION", "v1.37.2"),
		EtcdVersion:       envOr("ETCD_VERSION", "v3.6.16"),
		CoreDNSVersion:    envOr("COREDNS_VERSION", "v1.14.7"),
		VersityGWVersion:  envOr("VERSITYGW_VERSION", "v1.8.0"),
		ArgoCDVersion:     envOr("ARGOCD_VERSION", "v3.6.1"),
		CNIBinDir:         envOr("CNI_BIN_DIR", "/usr/lib/cni"),
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// Validate checks that the directories are absolute and distinct: Down deletes StateDir.
func (c Config) Validate() error {
	for name, dir := range map[string]string{"state directory": c.StateDir, "cache directory": c.CacheDir} {
		if !filepath.IsAbs(dir) || filepath.Clean(dir) == "/" {
			return fmt.Errorf("%s %q must be an absolute path below /", name, dir)
		}
	}
	if rel, err := filepath.Rel(c.StateDir, c.CacheDir); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
		return fmt.Errorf("cache directory %q lies inside the state directory %q, which down removes", c.CacheDir, c.StateDir)
	}
	return nil
}

// path joins elements below the state directory.
func (c Config) path(elem ...string) string {
	return filepath.Join(append([]string{c.StateDir}, elem...)...)
}

// KubeconfigPath is the admin kubeconfig of the meta cluster.
func (c Config) KubeconfigPath() string { return c.path("kubeconfig") }

// K8sBin is the path of a Kubernetes binary of the configured version.
func (c Config) K8sBin(name string) string {
	return filepath.Join(c.CacheDir, "k8s", c.KubernetesVersion, "bin", name)
}

func (c Config) toolBin(tool, version, name string) string {
	return filepath.Join(c.CacheDir, "tools", tool, version, name)
}

// EtcdBin is the etcd server binary.
func (c Config) EtcdBin() string { return c.toolBin("etcd", c.EtcdVersion, "etcd") }

// CoreDNSBin is the CoreDNS binary that goes into the CoreDNS image.
func (c Config) CoreDNSBin() string { return c.toolBin("coredns", c.CoreDNSVersion, "coredns") }

// ContainerdSocket is the CRI and containerd API socket.
func (c Config) ContainerdSocket() string { return c.path("containerd", "containerd.sock") }

// APIServerURL is the meta cluster's API endpoint, reachable from the host and from the namespace.
func APIServerURL() string { return fmt.Sprintf("https://%s:%d", NodeIP, APIPort) }
