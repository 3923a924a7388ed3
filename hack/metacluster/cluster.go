package metacluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// Up brings the cluster up. On a healthy cluster it does nothing; anything else the machine still
// holds of a cluster (a run killed halfway, a crashed daemon) is removed first, so Up always ends
// with a fresh, healthy cluster or an error naming the component that failed.
func Up(ctx context.Context, c Config, out io.Writer) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return errors.New("the local meta cluster needs root (network namespaces, mounts, cgroups)")
	}
	if err := c.checkBinaries(); err != nil {
		return err
	}
	if err := Healthy(ctx, c); err == nil {
		fmt.Fprintf(out, "meta cluster is already up\n")
		return printAccess(c, out)
	}
	if left := leftovers(c); len(left) > 0 {
		fmt.Fprintf(out, "removing what a previous run left: %s\n", strings.Join(left, ", "))
		if err := Down(c, io.Discard); err != nil {
			return fmt.Errorf("recover from a previous run: %w", err)
		}
	}
	start := time.Now()
	step := func(what string) { fmt.Fprintf(out, "[%5.1fs] %s\n", time.Since(start).Seconds(), what) }

	step("state, PKI and configuration in " + c.StateDir)
	if err := os.MkdirAll(c.StateDir, 0o755); err != nil {
		return err
	}
	if err := c.installSelf(); err != nil {
		return err
	}
	if err := c.writePKI(); err != nil {
		return err
	}
	if err := c.writeConfigFiles(); err != nil {
		return err
	}
	raised, err := c.raiseHostLimits()
	if err != nil {
		return err
	}
	if len(raised) > 0 {
		step("host limits raised for the density of tenants (down restores them): " + strings.Join(raised, ", "))
	}
	step("network namespace " + NetnsName)
	if err := setupNetwork(); err != nil {
		return err
	}
	if err := createCgroupRoot(CgroupRoot); err != nil {
		return err
	}

	step("etcd")
	if err := c.startAndWait(ctx, c.etcd(), 30*time.Second, c.etcdHealthy); err != nil {
		return err
	}
	step("kube-apiserver")
	client, err := c.Client()
	if err != nil {
		return err
	}
	if err := c.startAndWait(ctx, c.apiserver(), 60*time.Second, func(ctx context.Context) error {
		return client.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).Error()
	}); err != nil {
		return err
	}
	step("kube-controller-manager, kube-scheduler, containerd")
	for _, d := range []daemon{c.controllerManager(), c.scheduler()} {
		if _, err := c.start(d); err != nil {
			return err
		}
	}
	if err := c.startAndWait(ctx, c.containerd(), 30*time.Second, func(context.Context) error {
		_, err := os.Stat(c.ContainerdSocket())
		return err
	}); err != nil {
		return err
	}
	step("images")
	images, err := c.clusterImages()
	if err != nil {
		return err
	}
	if err := c.BuildAndImport(images...); err != nil {
		return err
	}
	step("kubelet, kube-proxy, volume provisioner, NetworkPolicy enforcer")
	if err := c.startAndWait(ctx, c.kubelet(), 60*time.Second, func(ctx context.Context) error {
		return nodeReady(ctx, client)
	}); err != nil {
		return err
	}
	for _, d := range []daemon{c.kubeProxy(), c.provisioner(), c.networkPolicy()} {
		if _, err := c.start(d); err != nil {
			return err
		}
	}
	step("CoreDNS and the default StorageClass")
	if err := c.applyAddons(); err != nil {
		return err
	}
	if err := waitFor(ctx, 90*time.Second, func(ctx context.Context) error { return dnsReady(ctx, client) }); err != nil {
		return fmt.Errorf("CoreDNS did not become ready: %w", err)
	}
	if err := Healthy(ctx, c); err != nil {
		return err
	}
	step("meta cluster is up")
	return printAccess(c, out)
}

// installSelf copies this program and the pause binary into the state directory: the provisioner
// daemon runs from there, independent of the build tree.
func (c Config) installSelf() error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	data, err := os.ReadFile(self)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.path("bin"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(c.path("bin", "taowa-metacluster"), data, 0o755); err != nil {
		return err
	}
	return c.installCNIPlugins(filepath.Dir(self))
}

// startAndWait starts d and waits until ready succeeds, failing early (with the end of its log)
// when the process exits.
func (c Config) startAndWait(ctx context.Context, d daemon, timeout time.Duration, ready func(context.Context) error) error {
	rec, err := c.start(d)
	if err != nil {
		return err
	}
	err = waitFor(ctx, timeout, func(ctx context.Context) error {
		if !rec.alive() {
			return errExited
		}
		return ready(ctx)
	})
	if err != nil {
		return fmt.Errorf("%s did not become ready: %w; last lines of %s:\n%s", d.name, err, c.logFile(d.name), c.logTail(d.name, 15))
	}
	return nil
}

var errExited = errors.New("process exited")

// waitFor polls check until it succeeds, the timeout passes, or check reports errExited.
func waitFor(ctx context.Context, timeout time.Duration, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		attempt, cancelAttempt := context.WithTimeout(ctx, 5*time.Second)
		last = check(attempt)
		cancelAttempt()
		if last == nil || errors.Is(last, errExited) {
			return last
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out after %s: %w", timeout, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// etcdHealthy asks etcd's /health from inside the namespace: etcd listens on its loopback only.
// The connection is dialled here, on the thread that ns.WithNetNSPath moved into the namespace;
// an http.Transport would dial from another goroutine, in the host's namespace.
func (c Config) etcdHealthy(ctx context.Context) error {
	return ns.WithNetNSPath(netnsPath(), func(ns.NetNS) error {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", strings.TrimPrefix(etcdClientURL, "http://"))
		if err != nil {
			return err
		}
		defer conn.Close()
		if deadline, ok := ctx.Deadline(); ok {
			_ = conn.SetDeadline(deadline)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, etcdClientURL+"/health", nil)
		if err := req.Write(conn); err != nil {
			return err
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("etcd /health: %s", resp.Status)
		}
		return nil
	})
}

// Client returns a client of the meta cluster with its admin identity.
func (c Config) Client() (*kubernetes.Clientset, error) {
	return clientFromKubeconfig(c.KubeconfigPath())
}

// clientFromKubeconfig is a client of the cluster the kubeconfig file at path names.
func clientFromKubeconfig(path string) (*kubernetes.Clientset, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	return kubernetes.NewForConfig(cfg)
}

func nodeReady(ctx context.Context, client kubernetes.Interface) error {
	node, err := client.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	for _, cond := range node.Status.Conditions {
		if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
			return nil
		}
	}
	return fmt.Errorf("node %s is not Ready", NodeName)
}

func dnsReady(ctx context.Context, client kubernetes.Interface) error {
	d, err := client.AppsV1().Deployments("kube-system").Get(ctx, "coredns", metav1.GetOptions{})
	if err != nil {
		return err
	}
	if d.Status.ReadyReplicas < 1 {
		return errors.New("no CoreDNS replica is ready")
	}
	return nil
}

// daemons lists the cluster's daemons in start order.
func (c Config) daemons() []daemon {
	return []daemon{c.etcd(), c.apiserver(), c.controllerManager(), c.scheduler(), c.containerd(), c.kubelet(), c.kubeProxy(), c.provisioner(), c.networkPolicy()}
}

// Healthy reports nil when every daemon runs, the apiserver is ready, the node is Ready and
// CoreDNS serves.
func Healthy(ctx context.Context, c Config) error {
	for _, d := range c.daemons() {
		if _, ok := c.running(d.name); !ok {
			return fmt.Errorf("%s is not running", d.name)
		}
	}
	client, err := c.Client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := client.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).Error(); err != nil {
		return fmt.Errorf("kube-apiserver /readyz: %w", err)
	}
	if err := nodeReady(ctx, client); err != nil {
		return err
	}
	return dnsReady(ctx, client)
}

// Status writes one line per daemon and the cluster's health; it returns an error when the
// cluster is not healthy.
func Status(ctx context.Context, c Config, out io.Writer) error {
	for _, d := range c.daemons() {
		if rec, ok := c.running(d.name); ok {
			fmt.Fprintf(out, "%-24s running (PID %d)\n", d.name, rec.pid)
		} else {
			fmt.Fprintf(out, "%-24s stopped\n", d.name)
		}
	}
	if err := Healthy(ctx, c); err != nil {
		fmt.Fprintf(out, "cluster: not healthy: %v\n", err)
		return err
	}
	fmt.Fprintf(out, "cluster: healthy, API %s\n", APIServerURL())
	return printAccess(c, out)
}

func printAccess(c Config, out io.Writer) error {
	fmt.Fprintf(out, "kubeconfig: %s\nkubectl:    %s\n", c.KubeconfigPath(), filepath.Dir(c.K8sBin("kubectl")))
	return nil
}
