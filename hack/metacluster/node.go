package metacluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/taowa/taowa/cni-eni/provider/local"
	"github.com/taowa/taowa/hooks/join"
)

// A tenant worker node is a machine of the tenant's own, simulated the way the VPC is: a network
// namespace plugged into the VPC's subnet like a VM's NIC (an address of the subnet, the VPC's
// gateway as its default route), with its own containerd and kubelet, which join the tenant master
// as kubeadm's nodes do: token discovery of the CA, then kubelet TLS bootstrap. Everything of node
// NAME lives in the state directory's nodes/NAME, the namespace NodeNetnsPrefix+NAME and the cgroup
// subtree NodeNetnsPrefix+NAME; DeleteNode and Down remove all of it.
const NodeNetnsPrefix = "taowa-meta-node-"

// Node describes a tenant worker node to add.
type Node struct {
	Name string
	// VPC is the name of the simulated VPC (`vpc create NAME`) the node sits in.
	VPC string
	// Address is the node's address in the VPC's subnet; unset, the first free one from the
	// subnet's 100th address.
	Address netip.Addr
	// KubernetesVersion of the kubelet; unset, the meta cluster's.
	KubernetesVersion string
	// Server (host:port), Token and CACertHashes are what `taowa join` prints.
	Server       string
	Token        string
	CACertHashes []string
	// ClusterDNS and ClusterDomain are the tenant's DNS Service address and domain, for Pods.
	ClusterDNS    netip.Addr
	ClusterDomain string
	// Kubeadm joins with the real `kubeadm join` of the kubelet's version (hack/build-k8s.sh
	// VERSION kubeadm), which takes the kubelet's configuration from the tenant, instead of node
	// add's own discovery and bootstrap kubeconfig.
	Kubeadm bool
}

// nodeRecord is what AddNode leaves in nodes/NAME/node.json: what DeleteNode must undo outside the
// node's own directory, namespace and cgroups.
type nodeRecord struct {
	Name    string       `json:"name"`
	VPC     string       `json:"vpc"`
	Address netip.Addr   `json:"address"`
	PodCIDR netip.Prefix `json:"podCIDR,omitzero"`
}

// firstNodeOffset leaves the subnet's low addresses to the gateway and the ENIs.
const firstNodeOffset = 100

var nodeNamePattern = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,11}[a-z0-9])?$`)

func (c Config) nodeDir(name string) string { return c.path("nodes", name) }

// nodeConfig is the node's view of the configuration: its state directory is nodes/NAME, so that
// its containerd, kubelet, PID files and logs use the same layout as the meta node's.
func (c Config) nodeConfig(name, kubernetesVersion string) Config {
	nc := c
	nc.StateDir = c.nodeDir(name)
	nc.KubernetesVersion = kubernetesVersion
	return nc
}

func nodeNetns(name string) string      { return filepath.Join("/run/netns", NodeNetnsPrefix+name) }
func nodeCgroupRoot(name string) string { return "/" + NodeNetnsPrefix + name }

// nodeVPCLink is the VPC end of the node's NIC.
func nodeVPCLink(name string) string { return "n-" + name }

func vpcNetns(vpc string) string { return filepath.Join("/run/netns", VPCNetnsPrefix+vpc) }

// AddNode starts a tenant worker node and waits until its Node is Ready in the tenant. On failure
// nothing of the node is left behind.
func AddNode(ctx context.Context, c Config, n Node, out io.Writer) (err error) {
	if err := c.Validate(); err != nil {
		return err
	}
	if n.KubernetesVersion == "" {
		n.KubernetesVersion = c.KubernetesVersion
	}
	nc := c.nodeConfig(n.Name, n.KubernetesVersion)
	token, err := join.ParseToken(n.Token)
	if err != nil {
		return fmt.Errorf("node %s: %w", n.Name, err)
	}
	rec, subnet, gateway, err := c.claimNode(&n)
	if err != nil {
		return fmt.Errorf("node %s: %w", n.Name, err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(fmt.Errorf("node %s: %w", n.Name, err), DeleteNode(c, n.Name, io.Discard))
		}
	}()
	start := time.Now()
	step := func(what string) {
		fmt.Fprintf(out, "[%5.1fs] node %s: %s\n", time.Since(start).Seconds(), n.Name, what)
	}

	step(fmt.Sprintf("network namespace %s at %s in VPC %s", NodeNetnsPrefix+n.Name, rec.Address, n.VPC))
	if err := plugNode(n.Name, n.VPC, netip.PrefixFrom(rec.Address, subnet.Bits()), gateway); err != nil {
		return err
	}
	if n.Kubeadm {
		if !fileExists(nc.K8sBin("kubeadm")) {
			return fmt.Errorf("no kubeadm %s in %s: hack/build-k8s.sh v%s kubeadm builds it", n.KubernetesVersion, nc.K8sBin("kubeadm"), n.KubernetesVersion)
		}
	} else {
		step("discovery of the tenant's CA at " + n.Server)
		caPEM, err := join.Discover(ctx, n.Server, token, n.CACertHashes, dialIn(nodeNetns(n.Name)))
		if err != nil {
			return err
		}
		if err := nc.writeBootstrapFiles(n, token, caPEM); err != nil {
			return err
		}
	}
	if err := nc.writeNodeFiles(n, gateway); err != nil {
		return err
	}
	if err := createCgroupRoot(nodeCgroupRoot(n.Name)); err != nil {
		return err
	}
	step("containerd")
	containerd := nc.containerd()
	containerd.netns = nodeNetns(n.Name)
	if err := nc.startAndWait(ctx, containerd, 30*time.Second, func(context.Context) error {
		_, err := os.Stat(nc.ContainerdSocket())
		return err
	}); err != nil {
		return err
	}
	images, err := c.nodeImages()
	if err != nil {
		return err
	}
	if err := nc.BuildAndImport(images...); err != nil {
		return err
	}
	if n.Kubeadm {
		step("kubeadm join " + n.Server + ", then kubelet " + n.KubernetesVersion + " as kubeadm configured it")
		if err := nc.kubeadmJoin(ctx, n, rec); err != nil {
			return err
		}
	} else {
		step("kubelet " + n.KubernetesVersion + ": TLS bootstrap with the token")
		if _, err := nc.start(nc.nodeKubelet(n, rec)); err != nil {
			return err
		}
	}
	var client *kubernetes.Clientset
	var node *corev1.Node
	err = nc.waitForKubelet(ctx, 90*time.Second, func(ctx context.Context) error {
		if client == nil {
			if client, err = nc.nodeClient(n.Name); err != nil {
				return err
			}
		}
		node, err = client.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if node.Spec.PodCIDR == "" {
			return fmt.Errorf("the controller-manager has not allocated a Pod range to Node %s", n.Name)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if rec.PodCIDR, err = netip.ParsePrefix(node.Spec.PodCIDR); err != nil {
		return fmt.Errorf("Node %s: Pod CIDR %q: %w", n.Name, node.Spec.PodCIDR, err)
	}
	step("Pod range " + rec.PodCIDR.String() + ", routed in the VPC to the node")
	if err := writeNodeRecord(nc, rec); err != nil {
		return err
	}
	// The VPC routes the node's Pod range to it: its Pods need no NAT.
	if err := writeFile(nc.path("cni", "net.d", "10-taowa-node.conflist"), []byte(nc.bridgeConflist("taowa-node", rec.PodCIDR.String()))); err != nil {
		return err
	}
	if err := run("ip", "-n", VPCNetnsPrefix+n.VPC, "route", "replace", rec.PodCIDR.String(), "via", rec.Address.String()); err != nil {
		return err
	}
	err = nc.waitForKubelet(ctx, 60*time.Second, func(ctx context.Context) error {
		node, err := client.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, cond := range node.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("Node %s is not Ready", n.Name)
	})
	if err != nil {
		return err
	}
	step("Ready")
	return nil
}

// claimNode plans the node and records it, under a lock, so that nodes added at the same time
// get distinct addresses.
func (c Config) claimNode(n *Node) (nodeRecord, netip.Prefix, netip.Addr, error) {
	fail := func(err error) (nodeRecord, netip.Prefix, netip.Addr, error) {
		return nodeRecord{}, netip.Prefix{}, netip.Addr{}, err
	}
	if err := os.MkdirAll(c.path("nodes"), 0o755); err != nil {
		return fail(err)
	}
	lock, err := os.OpenFile(c.path("nodes.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fail(err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return fail(fmt.Errorf("lock %s: %w", lock.Name(), err))
	}
	rec, subnet, gateway, err := c.planNode(n)
	if err != nil {
		return fail(err)
	}
	if err := writeNodeRecord(c.nodeConfig(n.Name, n.KubernetesVersion), rec); err != nil {
		return fail(err)
	}
	return rec, subnet, gateway, nil
}

// planNode checks n against the machine (the VPC exists, the name and address are free) and
// returns its record with the address chosen, and the VPC's subnet and gateway.
func (c Config) planNode(n *Node) (nodeRecord, netip.Prefix, netip.Addr, error) {
	fail := func(err error) (nodeRecord, netip.Prefix, netip.Addr, error) {
		return nodeRecord{}, netip.Prefix{}, netip.Addr{}, err
	}
	switch {
	case !nodeNamePattern.MatchString(n.Name):
		return fail(fmt.Errorf("the name must be a DNS label of at most 13 characters (it names links)"))
	case n.Server == "" || len(n.CACertHashes) == 0:
		return fail(errors.New("the server, token and CA certificate hash are required: `taowa join TENANT` prints them"))
	case !n.ClusterDNS.IsValid() || n.ClusterDomain == "":
		return fail(errors.New("the cluster DNS address and domain are required"))
	}
	if _, err := os.Stat(c.nodeDir(n.Name)); err == nil {
		return fail(fmt.Errorf("a node of that name exists (%s); `node delete %s` removes it", c.nodeDir(n.Name), n.Name))
	}
	if _, err := os.Stat(vpcNetns(n.VPC)); err != nil {
		return fail(fmt.Errorf("VPC %q does not exist (`vpc create %s` makes it)", n.VPC, n.VPC))
	}
	enis, err := local.Lookup(c.ENIInventoryPath(), VPCNetnsPrefix+n.VPC)
	if err != nil {
		return fail(fmt.Errorf("VPC %q: %w", n.VPC, err))
	}
	subnet, gateway := enis[0].Address.Masked(), enis[0].Gateway
	if kubelet := c.nodeConfig(n.Name, n.KubernetesVersion).K8sBin("kubelet"); !fileExists(kubelet) {
		return fail(fmt.Errorf("no kubelet %s at %s (hack/build-k8s.sh %s kubelet builds it)", n.KubernetesVersion, kubelet, n.KubernetesVersion))
	}
	taken := map[netip.Addr]string{gateway: "the VPC gateway"}
	for _, e := range enis {
		taken[e.Address.Addr()] = "ENI " + e.ID
	}
	for _, other := range c.nodeRecords() {
		if other.VPC == n.VPC {
			taken[other.Address] = "node " + other.Name
		}
	}
	if n.Address.IsValid() {
		if !subnet.Contains(n.Address) || n.Address == subnet.Addr() {
			return fail(fmt.Errorf("address %s is not a host address of VPC %s's subnet %s", n.Address, n.VPC, subnet))
		}
		if by, ok := taken[n.Address]; ok {
			return fail(fmt.Errorf("address %s is taken by %s", n.Address, by))
		}
	} else {
		addr := subnet.Addr()
		for range firstNodeOffset {
			addr = addr.Next()
		}
		for ; subnet.Contains(addr); addr = addr.Next() {
			if _, ok := taken[addr]; !ok {
				break
			}
		}
		if !subnet.Contains(addr) {
			return fail(fmt.Errorf("VPC %s's subnet %s has no free address for a node", n.VPC, subnet))
		}
		n.Address = addr
	}
	return nodeRecord{Name: n.Name, VPC: n.VPC, Address: n.Address}, subnet, gateway, nil
}

// plugNode creates the node's namespace and plugs it into the VPC's subnet.
func plugNode(name, vpc string, addr netip.Prefix, gateway netip.Addr) error {
	nodeNS, vpcNS, link := NodeNetnsPrefix+name, VPCNetnsPrefix+vpc, nodeVPCLink(name)
	steps := [][]string{
		{"ip", "netns", "add", nodeNS},
		{"ip", "-n", vpcNS, "link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", nodeNS},
		{"ip", "-n", vpcNS, "link", "set", link, "master", "vpc0", "up"},
		{"ip", "-n", nodeNS, "link", "set", "lo", "up"},
		{"ip", "-n", nodeNS, "addr", "add", addr.String(), "dev", "eth0"},
		{"ip", "-n", nodeNS, "link", "set", "eth0", "up"},
		{"ip", "-n", nodeNS, "route", "add", "default", "via", gateway.String()},
	}
	for _, s := range steps {
		if err := run(s[0], s[1:]...); err != nil {
			return fmt.Errorf("plug into VPC %s: %w", vpc, err)
		}
	}
	// The node routes for its Pods; kube-proxy's rules see bridged Pod traffic. The VPC routes
	// each node's Pod range to it.
	forward := "net/ipv4/ip_forward"
	if err := setSysctls(nodeNetns(name), forward, "net/bridge/bridge-nf-call-iptables", "net/ipv4/conf/all/route_localnet"); err != nil {
		return fmt.Errorf("node %s: %w", name, err)
	}
	if err := setSysctls(vpcNetns(vpc), forward); err != nil {
		return fmt.Errorf("VPC %s: %w", vpc, err)
	}
	return nil
}

// setSysctls sets the network sysctls keys to 1 in the namespace at path: /proc/sys/net shows the
// namespace of the thread that opens it.
func setSysctls(path string, keys ...string) error {
	return ns.WithNetNSPath(path, func(ns.NetNS) error {
		for _, key := range keys {
			if err := os.WriteFile("/proc/sys/"+key, []byte("1"), 0o644); err != nil {
				return fmt.Errorf("sysctl %s: %w", key, err)
			}
		}
		return nil
	})
}

// dialIn dials from inside the network namespace at path: a socket belongs to the namespace of
// the thread that creates it.
func dialIn(path string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var conn net.Conn
		err := ns.WithNetNSPath(path, func(ns.NetNS) error {
			var d net.Dialer
			var err error
			conn, err = d.DialContext(ctx, network, addr)
			return err
		})
		return conn, err
	}
}

// The node's files follow kubeadm's layout, so that a node joined by node add and one joined by
// `kubeadm join` differ only in who wrote them: etc-kubernetes is the node's /etc/kubernetes
// (bootstrap-kubelet.conf, kubelet.conf, pki/ca.crt), kubelet its /var/lib/kubelet (config.yaml,
// the kubelet's certificates and Pods).
func (nc Config) etcKubernetes(elem ...string) string {
	return nc.path(append([]string{"etc-kubernetes"}, elem...)...)
}

// writeBootstrapFiles writes what `kubeadm join` would: the CA, the bootstrap kubeconfig and the
// kubelet's configuration (here node add's own, with the settings kubeadm takes from the tenant).
func (nc Config) writeBootstrapFiles(n Node, token join.Token, caPEM []byte) error {
	bootstrap, err := join.BootstrapKubeconfig(n.Server, caPEM, token)
	if err != nil {
		return err
	}
	kubelet := nc.nodeKubeletConfig(n)
	kubelet.clusterDNS, kubelet.clusterDomain = n.ClusterDNS.String(), n.ClusterDomain
	kubelet.rotateCertificates = true
	// The tenant approves serving certificates that name the node's own addresses, and its
	// apiserver verifies them.
	kubelet.serverTLSBootstrap = true
	files := map[string][]byte{
		nc.etcKubernetes("pki", "ca.crt"):          caPEM,
		nc.etcKubernetes("bootstrap-kubelet.conf"): bootstrap,
		nc.path("kubelet", "config.yaml"):          []byte(kubelet.yaml()),
	}
	for path, data := range files {
		if err := writeFile(path, data); err != nil {
			return err
		}
	}
	return nil
}

// nodeKubeletConfig is the kubelet configuration this machine needs, whoever joins it.
func (nc Config) nodeKubeletConfig(n Node) kubeletConfig {
	return kubeletConfig{
		clientCAFile: nc.etcKubernetes("pki", "ca.crt"), staticPodPath: nc.etcKubernetes("manifests"),
		cgroupRoot: nodeCgroupRoot(n.Name), containerdSocket: nc.ContainerdSocket(),
		podLogsDir: nc.path("pod-logs"), resolvConf: nc.path("resolv.conf"),
	}
}

// writeNodeFiles writes the node's containerd and CNI plugin files; the CNI network configuration
// follows once the node has a Pod range. A node joined by kubeadm gets this machine's kubelet
// settings as a drop-in over the configuration kubeadm takes from the tenant, as a machine image
// would ship them.
func (nc Config) writeNodeFiles(n Node, gateway netip.Addr) error {
	files := map[string][]byte{
		nc.path("containerd", "config.toml"): []byte(nc.containerdConfig()),
		// The VPC's resolver, at its gateway as in a cloud VPC: CoreDNS forwards other names there.
		nc.path("resolv.conf"): []byte("nameserver " + gateway.String() + "\n"),
	}
	if n.Kubeadm {
		files[nc.path("kubelet", "conf.d", "50-taowa-node.conf")] = []byte(nc.nodeKubeletConfig(n).machineYAML())
	}
	for path, data := range files {
		if err := writeFile(path, data); err != nil {
			return err
		}
	}
	// containerd watches the CNI configuration directory, which stays empty until the node has a
	// Pod range: until then the kubelet reports the network not ready. The kubelet reads its
	// drop-in directory, empty or not.
	for _, dir := range []string{nc.path("cni", "net.d"), nc.path("kubelet", "conf.d")} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	return nc.linkCNIPlugins()
}

// nodeKubelet is the kubelet as kubeadm's systemd drop-in starts it; extra are the flags kubeadm
// wrote to kubeadm-flags.env, if it joined the node.
func (nc Config) nodeKubelet(n Node, rec nodeRecord, extra ...string) daemon {
	args := []string{
		"--bootstrap-kubeconfig=" + nc.etcKubernetes("bootstrap-kubelet.conf"),
		"--kubeconfig=" + nc.etcKubernetes("kubelet.conf"),
		"--config=" + nc.path("kubelet", "config.yaml"),
		"--config-dir=" + nc.path("kubelet", "conf.d"),
		"--root-dir=" + nc.path("kubelet"),
		"--cert-dir=" + nc.path("kubelet", "pki"),
		"--hostname-override=" + n.Name,
		"--node-ip=" + rec.Address.String(),
		"--v=1",
	}
	return daemon{name: "kubelet", bin: nc.K8sBin("kubelet"), netns: nodeNetns(n.Name), args: append(args, extra...)}
}

// kubeadmJoin runs `kubeadm join` in the node's network namespace, in a mount namespace of its own
// where /etc/kubernetes and /var/lib/kubelet are the node's directories, and starts the kubelet
// once kubeadm has written its configuration, as systemd would on a machine; kubeadm then waits
// for the kubelet's TLS bootstrap.
func (nc Config) kubeadmJoin(ctx context.Context, n Node, rec nodeRecord) error {
	kubeletDir := nc.path("kubelet")
	for _, dir := range []string{nc.etcKubernetes(), kubeletDir} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	args := []string{"join", n.Server, "--token", n.Token, "--node-name", n.Name,
		"--cri-socket", "unix://" + nc.ContainerdSocket(),
		// Its checks look for a systemd-run machine with the default paths this one is not.
		"--ignore-preflight-errors", "all"}
	for _, h := range n.CACertHashes {
		args = append(args, "--discovery-token-ca-cert-hash", h)
	}
	// The namespace's own /tmp holds the node's directories, bound before overlays of /etc and
	// /var/lib (where the node's directories are) make the mount points; nothing of this outlives
	// the namespace.
	script := `set -e
mount -t tmpfs tmpfs /tmp
mkdir -p /tmp/etc-kubernetes /tmp/kubelet /tmp/etc/upper /tmp/etc/work /tmp/var-lib/upper /tmp/var-lib/work
mount --bind "$1" /tmp/etc-kubernetes
mount --bind "$2" /tmp/kubelet
shift 2
mount -t overlay overlay -o lowerdir=/etc,upperdir=/tmp/etc/upper,workdir=/tmp/etc/work /etc
mount -t overlay overlay -o lowerdir=/var/lib,upperdir=/tmp/var-lib/upper,workdir=/tmp/var-lib/work /var/lib
mkdir -p /etc/kubernetes /var/lib/kubelet
mount --bind /tmp/etc-kubernetes /etc/kubernetes
mount --bind /tmp/kubelet /var/lib/kubelet
cd /
exec "$@"`
	log, err := os.Create(nc.logFile("kubeadm"))
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"--net=" + nodeNetns(n.Name), "--",
		"unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, "kubeadm-join",
		nc.etcKubernetes(), kubeletDir, nc.K8sBin("kubeadm")}, args...)...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start kubeadm join: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	failed := func(err error) error {
		return fmt.Errorf("kubeadm join: %w; last lines of %s:\n%s", err, nc.logFile("kubeadm"), nc.logTail("kubeadm", 20))
	}

	// kubeadm writes the kubelet's configuration and flags, then waits for the kubelet.
	flagsFile := filepath.Join(kubeletDir, "kubeadm-flags.env")
	var kubeadmFlags []string
	err = waitFor(ctx, 2*time.Minute, func(context.Context) error {
		select {
		case err := <-exited:
			return fmt.Errorf("%w: %v", errExited, err)
		default:
		}
		data, err := os.ReadFile(flagsFile)
		if err != nil {
			return err
		}
		kubeadmFlags, err = kubeadmKubeletArgs(string(data))
		return err
	})
	if err != nil {
		_ = cmd.Process.Kill()
		return failed(err)
	}
	if _, err := nc.start(nc.nodeKubelet(n, rec, kubeadmFlags...)); err != nil {
		_ = cmd.Process.Kill()
		return err
	}
	select {
	case err := <-exited:
		if err != nil {
			return failed(err)
		}
		return nil
	case <-ctx.Done():
		return failed(ctx.Err())
	}
}

// kubeadmKubeletArgs returns the flags of KUBELET_KUBEADM_ARGS in kubeadm-flags.env, as systemd
// splits them.
func kubeadmKubeletArgs(env string) ([]string, error) {
	for line := range strings.Lines(env) {
		if value, ok := strings.CutPrefix(strings.TrimSpace(line), "KUBELET_KUBEADM_ARGS="); ok {
			unquoted, err := strconv.Unquote(value)
			if err != nil {
				return nil, fmt.Errorf("kubeadm-flags.env: KUBELET_KUBEADM_ARGS=%s: %w", value, err)
			}
			return strings.Fields(unquoted), nil
		}
	}
	return nil, errors.New("kubeadm-flags.env has no KUBELET_KUBEADM_ARGS")
}

// nodeClient is a client of the tenant with the node's own identity (the certificate the kubelet
// got by TLS bootstrap), dialling from the node's namespace.
func (nc Config) nodeClient(name string) (*kubernetes.Clientset, error) {
	path := nc.etcKubernetes("kubelet.conf")
	if !fileExists(path) {
		return nil, fmt.Errorf("the kubelet has no client certificate yet (%s)", path)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	cfg.Dial = dialIn(nodeNetns(name))
	cfg.Timeout = 10 * time.Second
	return kubernetes.NewForConfig(cfg)
}

// waitForKubelet polls check while the node's kubelet runs; on failure the error ends with the
// kubelet's last log lines.
func (nc Config) waitForKubelet(ctx context.Context, timeout time.Duration, check func(context.Context) error) error {
	err := waitFor(ctx, timeout, func(ctx context.Context) error {
		if _, ok := nc.running("kubelet"); !ok {
			return errExited
		}
		return check(ctx)
	})
	if err != nil {
		return fmt.Errorf("%w; last lines of %s:\n%s", err, nc.logFile("kubelet"), nc.logTail("kubelet", 15))
	}
	return nil
}

// ImportIntoNode builds the images (or takes them from the cache) and imports them into node
// name's containerd, as a registry pull would put them there.
func (c Config) ImportIntoNode(name string, images ...Image) error {
	rec, err := readNodeRecord(c.nodeConfig(name, c.KubernetesVersion))
	if err != nil {
		return fmt.Errorf("node %s: %w", name, err)
	}
	return c.nodeConfig(rec.Name, c.KubernetesVersion).BuildAndImport(images...)
}

// DeleteNode removes node name: its processes (by recorded PID, then what is left in its cgroups
// and namespace), mounts, cgroups, the VPC's route to its Pods, its link, namespace and
// directory. It succeeds on a node that is partly or wholly gone.
func DeleteNode(c Config, name string, out io.Writer) error {
	if !nodeNamePattern.MatchString(name) {
		return fmt.Errorf("node %q: not a node name", name)
	}
	nc := c.nodeConfig(name, c.KubernetesVersion)
	rec, recErr := readNodeRecord(nc)
	var errs []error
	for _, d := range []string{"kubelet", "containerd"} {
		if err := nc.stop(d, 10*time.Second); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", d, err))
		}
	}
	if err := killStragglers(out, nodeCgroupRoot(name), nodeNetns(name)); err != nil {
		errs = append(errs, err)
	}
	if err := unmountBelow(nc.StateDir); err != nil {
		errs = append(errs, err)
	}
	if err := removeCgroupRoot(nodeCgroupRoot(name)); err != nil {
		errs = append(errs, err)
	}
	if recErr == nil && fileExists(vpcNetns(rec.VPC)) {
		if rec.PodCIDR.IsValid() {
			if err := run("ip", "-n", VPCNetnsPrefix+rec.VPC, "route", "del", rec.PodCIDR.String()); err != nil && !strings.Contains(err.Error(), "No such process") {
				errs = append(errs, err)
			}
		}
		if err := run("ip", "-n", VPCNetnsPrefix+rec.VPC, "link", "delete", nodeVPCLink(name)); err != nil && !strings.Contains(err.Error(), "Cannot find device") {
			errs = append(errs, err)
		}
	}
	if fileExists(nodeNetns(name)) {
		if err := run("ip", "netns", "delete", NodeNetnsPrefix+name); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		if err := os.RemoveAll(nc.StateDir); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("delete node %s: %w", name, err)
	}
	return nil
}

// nodeNames lists the nodes on the machine: by directory and by namespace, so that a node whose
// directory is gone is still found.
func (c Config) nodeNames() []string {
	seen := map[string]bool{}
	if entries, err := os.ReadDir(c.path("nodes")); err == nil {
		for _, e := range entries {
			seen[e.Name()] = true
		}
	}
	if entries, err := os.ReadDir("/run/netns"); err == nil {
		for _, e := range entries {
			if name, ok := strings.CutPrefix(e.Name(), NodeNetnsPrefix); ok {
				seen[name] = true
			}
		}
	}
	names := make([]string, 0, len(seen))
	for name := range seen {
		names = append(names, name)
	}
	return names
}

// deleteNodes deletes every node, for Down.
func deleteNodes(c Config, out io.Writer) error {
	var errs []error
	for _, name := range c.nodeNames() {
		errs = append(errs, DeleteNode(c, name, out))
	}
	return errors.Join(errs...)
}

// nodeLeftovers describes what of any node is still on the machine.
func nodeLeftovers(c Config) []string {
	var found []string
	for _, name := range c.nodeNames() {
		nc := c.nodeConfig(name, c.KubernetesVersion)
		if fileExists(nodeNetns(name)) {
			found = append(found, "network namespace "+NodeNetnsPrefix+name)
		}
		if pids, err := cgroupPIDs(nodeCgroupRoot(name)); err == nil && len(pids) > 0 {
			found = append(found, fmt.Sprintf("%d process(es) in cgroup %s", len(pids), nodeCgroupRoot(name)))
		}
		for _, d := range []string{"kubelet", "containerd"} {
			if rec, ok := nc.running(d); ok {
				found = append(found, fmt.Sprintf("process %s of node %s (PID %d)", d, name, rec.pid))
			}
		}
	}
	if mounts, err := cgroupMounts(); err == nil {
		for _, mp := range mounts {
			matches, _ := filepath.Glob(filepath.Join(mp, NodeNetnsPrefix+"*"))
			for _, m := range matches {
				found = append(found, "cgroup "+m)
			}
		}
	}
	return found
}

func (c Config) nodeRecords() []nodeRecord {
	var recs []nodeRecord
	for _, name := range c.nodeNames() {
		if rec, err := readNodeRecord(c.nodeConfig(name, c.KubernetesVersion)); err == nil {
			recs = append(recs, rec)
		}
	}
	return recs
}

func writeNodeRecord(nc Config, rec nodeRecord) error {
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(nc.path("node.json"), data)
}

func readNodeRecord(nc Config) (nodeRecord, error) {
	var rec nodeRecord
	data, err := os.ReadFile(nc.path("node.json"))
	if err != nil {
		return rec, err
	}
	return rec, json.Unmarshal(data, &rec)
}

func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, fs.ErrNotExist)
}
