package metacluster

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// stopOrder is the order in which Down stops the daemons: consumers before what they consume, the
// kubelet before containerd so that nothing is restarted behind Down's back.
var stopOrder = []string{"network-policy", "provisioner", "kube-proxy", "kubelet", "kube-scheduler", "kube-controller-manager", "containerd", "kube-apiserver", "etcd"}

// The etcd client URL is on the namespace's loopback: only the apiserver uses it, and Pods (which
// can reach the node address) cannot.
const etcdClientURL = "http://127.0.0.1:2379"

func (c Config) etcd() daemon {
	return daemon{name: "etcd", bin: c.EtcdBin(), args: []string{
		"--name=" + NodeName,
		"--data-dir=" + c.path("etcd"),
		"--listen-client-urls=" + etcdClientURL,
		"--advertise-client-urls=" + etcdClientURL,
		"--listen-peer-urls=http://127.0.0.1:2380",
		"--initial-advertise-peer-urls=http://127.0.0.1:2380",
		"--initial-cluster=" + NodeName + "=http://127.0.0.1:2380",
		"--listen-metrics-urls=http://127.0.0.1:2381",
	}}
}

func (c Config) apiserver() daemon {
	return daemon{name: "kube-apiserver", bin: c.K8sBin("kube-apiserver"), args: []string{
		"--etcd-servers=" + etcdClientURL,
		"--advertise-address=" + NodeIP.String(),
		"--bind-address=0.0.0.0",
		fmt.Sprintf("--secure-port=%d", APIPort),
		"--tls-cert-file=" + c.pki("apiserver.crt"),
		"--tls-private-key-file=" + c.pki("apiserver.key"),
		"--client-ca-file=" + c.pki("ca.crt"),
		"--kubelet-client-certificate=" + c.pki("apiserver-kubelet-client.crt"),
		"--kubelet-client-key=" + c.pki("apiserver-kubelet-client.key"),
		"--kubelet-certificate-authority=" + c.pki("ca.crt"),
		"--kubelet-preferred-address-types=InternalIP",
		"--service-account-issuer=https://kubernetes.default.svc." + DNSDomain,
		"--service-account-key-file=" + c.pki("sa.pub"),
		"--service-account-signing-key-file=" + c.pki("sa.key"),
		"--service-cluster-ip-range=" + ServiceCIDR.String(),
		"--authorization-mode=Node,RBAC",
		"--enable-admission-plugins=NodeRestriction",
		"--allow-privileged=true",
		"--profiling=false",
	}}
}

func (c Config) controllerManager() daemon {
	kc := c.kubeconfigFor("controller-manager")
	return daemon{name: "kube-controller-manager", bin: c.K8sBin("kube-controller-manager"), args: []string{
		"--kubeconfig=" + kc,
		"--authentication-kubeconfig=" + kc,
		"--authorization-kubeconfig=" + kc,
		"--bind-address=127.0.0.1",
		"--leader-elect=false",
		"--use-service-account-credentials=true",
		"--cluster-signing-cert-file=" + c.pki("ca.crt"),
		"--cluster-signing-key-file=" + c.pki("ca.key"),
		"--root-ca-file=" + c.pki("ca.crt"),
		"--service-account-private-key-file=" + c.pki("sa.key"),
		"--service-cluster-ip-range=" + ServiceCIDR.String(),
		"--profiling=false",
	}}
}

func (c Config) scheduler() daemon {
	kc := c.kubeconfigFor("scheduler")
	return daemon{name: "kube-scheduler", bin: c.K8sBin("kube-scheduler"), args: []string{
		"--kubeconfig=" + kc,
		"--authentication-kubeconfig=" + kc,
		"--authorization-kubeconfig=" + kc,
		"--bind-address=127.0.0.1",
		"--leader-elect=false",
		"--profiling=false",
	}}
}

func (c Config) containerd() daemon {
	return daemon{name: "containerd", bin: "containerd", args: []string{"--config=" + c.path("containerd", "config.toml")}}
}

func (c Config) kubelet() daemon {
	return daemon{name: "kubelet", bin: c.K8sBin("kubelet"), args: []string{
		"--config=" + c.path("kubelet", "config.yaml"),
		"--kubeconfig=" + c.kubeconfigFor("kubelet"),
		"--root-dir=" + c.path("kubelet"),
		"--hostname-override=" + NodeName,
		"--node-ip=" + NodeIP.String(),
		"--v=1",
	}}
}

func (c Config) kubeProxy() daemon {
	return daemon{name: "kube-proxy", bin: c.K8sBin("kube-proxy"), args: []string{
		"--config=" + c.path("kube-proxy", "config.yaml"),
	}}
}

// provisioner runs this program's own `provisioner` command from the copy in the state directory,
// so that the cluster does not depend on the build tree it was started from.
func (c Config) provisioner() daemon {
	return daemon{name: "provisioner", bin: c.path("bin", "taowa-metacluster"), args: []string{
		"provisioner", "--kubeconfig=" + c.KubeconfigPath(), "--volumes=" + c.path("volumes"),
	}}
}

// networkPolicy runs this program's `network-policy` command, the NetworkPolicy enforcer.
func (c Config) networkPolicy() daemon {
	return daemon{name: "network-policy", bin: c.path("bin", "taowa-metacluster"), args: []string{
		"network-policy", "--kubeconfig=" + c.KubeconfigPath(),
	}}
}

// writeConfigFiles writes the containerd, CNI, kubelet and kube-proxy configuration.
func (c Config) writeConfigFiles() error {
	files := map[string]string{
		c.path("containerd", "config.toml"):              c.containerdConfig(),
		c.path("cni", "net.d", "10-taowa-meta.conflist"): c.cniConfig(),
		c.path("kubelet", "config.yaml"):                 c.kubeletConfig(),
		c.path("kube-proxy", "config.yaml"):              c.kubeProxyConfig(),
	}
	for path, content := range files {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	return nil
}

// containerdConfig keeps every containerd path inside the state directory. The settings under
// the cri plugin are the ones these machines need (see README: restrict_oom_score_adj because the
// root user here may not lower oom_score_adj; cgroupfs because there is no systemd).
func (c Config) containerdConfig() string {
	return fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = %[3]q

[ttrpc]
  address = %[4]q

[plugins."io.containerd.internal.v1.opt"]
  path = %[5]q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[6]q
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = %[7]q
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %[8]q
    conf_dir = %[9]q
`, c.path("containerd", "root"), c.path("containerd", "state"), c.ContainerdSocket(), c.ContainerdSocket()+".ttrpc",
		c.path("containerd", "opt"), PauseImage, c.path("containerd", "runc"), c.path("cni", "bin"), c.path("cni", "net.d"))
}

func (c Config) cniConfig() string {
	// eni runs for every Pod: Pods without the eni.taowa.io/vpc-id annotation pass through.
	eni := fmt.Sprintf(`{"type": "eni", "ifName": "eth1", "vpcOptional": true, "inventoryPath": %q, "kubeconfig": %q}`,
		c.ENIInventoryPath(), c.kubeconfigFor("kubelet"))
	return c.bridgeConflist("taowa-meta", NodePodCIDR.String(), eni)
}

// bridgeConflist is a node's Pod network: Pods of podCIDR on the bridge cni0, reached without
// NAT, with host ports, then the extra plugins.
func (c Config) bridgeConflist(name, podCIDR string, extra ...string) string {
	plugins := append([]string{
		fmt.Sprintf(`{
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": %q}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": %q
      }
    }`, podCIDR, c.path("cni", "ipam")),
		`{"type": "portmap", "capabilities": {"portMappings": true}}`,
	}, extra...)
	return fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": %q,
  "plugins": [
    %s
  ]
}
`, name, strings.Join(plugins, ",\n    "))
}

// cniPlugins are the plugins of the cluster's network, from CNIBinDir but eni, which the Makefile
// builds next to this program.
var cniPlugins = []string{"bridge", "host-local", "portmap", "loopback"}

// installCNIPlugins fills the state directory's CNI bin directory, which containerd uses, so that
// the project's eni plugin never lands in the system's CNI directory.
func (c Config) installCNIPlugins(selfDir string) error {
	if err := c.linkCNIPlugins(); err != nil {
		return err
	}
	data, err := os.ReadFile(filepath.Join(selfDir, "eni"))
	if err != nil {
		return fmt.Errorf("install CNI plugin eni (make build builds it): %w", err)
	}
	return os.WriteFile(filepath.Join(c.path("cni", "bin"), "eni"), data, 0o755)
}

// linkCNIPlugins links the standard plugins into the state directory's CNI bin directory.
func (c Config) linkCNIPlugins() error {
	dir := c.path("cni", "bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, p := range cniPlugins {
		link := filepath.Join(dir, p)
		_ = os.Remove(link)
		if err := os.Symlink(filepath.Join(c.CNIBinDir, p), link); err != nil {
			return fmt.Errorf("install CNI plugin %s: %w", p, err)
		}
	}
	return nil
}

func (c Config) kubeletConfig() string {
	return kubeletConfig{
		clientCAFile: c.pki("ca.crt"), tlsCertFile: c.pki("kubelet-serving.crt"), tlsKeyFile: c.pki("kubelet-serving.key"),
		cgroupRoot: CgroupRoot, containerdSocket: c.ContainerdSocket(), clusterDNS: DNSServiceIP.String(),
		clusterDomain: DNSDomain, podLogsDir: c.path("pod-logs"),
	}.yaml()
}

// kubeletConfig is what differs between the meta node's kubelet and a tenant node's.
type kubeletConfig struct {
	clientCAFile string
	// staticPodPath matters only to a drop-in over kubeadm's configuration, which names
	// /etc/kubernetes/manifests; no Pod is static on these nodes.
	staticPodPath string
	// tlsCertFile and tlsKeyFile are the serving certificate; empty, the kubelet makes its own.
	tlsCertFile, tlsKeyFile   string
	cgroupRoot                string
	containerdSocket          string
	clusterDNS, clusterDomain string
	podLogsDir                string
	// rotateCertificates renews the client certificate a bootstrap token got.
	rotateCertificates bool
	// resolvConf is what Pods with dnsPolicy Default get; empty: no resolver.
	resolvConf string
	// serverTLSBootstrap asks the cluster for the serving certificate (without tlsCertFile).
	serverTLSBootstrap bool
}

// yaml is the whole configuration: the settings of the cluster, then the machine's.
func (k kubeletConfig) yaml() string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: %q}
authorization: {mode: Webhook}
rotateCertificates: %t
serverTLSBootstrap: %t
clusterDNS: [%q]
clusterDomain: %q
healthzBindAddress: 127.0.0.1
`, k.clientCAFile, k.rotateCertificates, k.serverTLSBootstrap, k.clusterDNS, k.clusterDomain) + k.machineSettings()
}

// machineYAML is a drop-in of the machine's settings alone, over a configuration kubeadm wrote
// with the paths of a kubeadm machine.
func (k kubeletConfig) machineYAML() string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  x509: {clientCAFile: %q}
staticPodPath: %q
`, k.clientCAFile, k.staticPodPath) + k.machineSettings()
}

// machineSettings: the cgroup v1 and swap settings are required on these machines; image garbage
// collection is off because images cannot be pulled again once deleted (there is no registry).
// maxPods: 40 tenants are 160 Pods beside the node's own; a node's /24 Pod range has 253 addresses.
func (k kubeletConfig) machineSettings() string {
	serving := ""
	if k.tlsCertFile != "" {
		serving = fmt.Sprintf("tlsCertFile: %q\ntlsPrivateKeyFile: %q\n", k.tlsCertFile, k.tlsKeyFile)
	}
	return fmt.Sprintf(`%scgroupDriver: cgroupfs
cgroupRoot: %q
failCgroupV1: false
failSwapOn: false
oomScoreAdj: 0
containerRuntimeEndpoint: unix://%s
resolvConf: %q
podLogsDir: %q
readOnlyPort: 0
maxPods: 250
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {"memory.available": "100Mi", "nodefs.available": "1%%", "imagefs.available": "1%%", "nodefs.inodesFree": "1%%"}
`, serving, k.cgroupRoot, k.containerdSocket, k.resolvConf, k.podLogsDir)
}

// kubeProxyConfig: conntrack limits are per host and cannot be set from a network namespace, so
// kube-proxy is told to leave them alone (0).
func (c Config) kubeProxyConfig() string {
	return fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: %q}
hostnameOverride: %q
clusterCIDR: %q
bindAddress: %q
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
oomScoreAdj: 0
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
`, c.kubeconfigFor("kube-proxy"), NodeName, PodCIDR.String(), NodeIP.String())
}

// binaries lists every binary the cluster needs with the command that builds it.
func (c Config) binaries() map[string]string {
	k8s := "hack/build-k8s.sh " + c.KubernetesVersion
	m := map[string]string{c.EtcdBin(): "hack/build-tools.sh etcd", c.CoreDNSBin(): "hack/build-tools.sh coredns"}
	for _, b := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl"} {
		m[c.K8sBin(b)] = k8s
	}
	return m
}

func (c Config) checkBinaries() error {
	var missing []string
	for bin, how := range c.binaries() {
		if _, err := os.Stat(bin); err != nil {
			missing = append(missing, fmt.Sprintf("%s (build it with %s)", bin, how))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing binaries: %s; `make up` builds them", strings.Join(missing, ", "))
	}
	return nil
}
