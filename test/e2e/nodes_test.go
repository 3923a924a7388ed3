//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/taowa/taowa/hack/metacluster"
	"github.com/taowa/taowa/hooks/join"
)

// TestTenantNodesOverENI joins two worker nodes in the tenant's VPC to a tenant master whose
// apiserver holds an ENI of that VPC: the nodes reach the apiserver at its ENI address, and the
// apiserver reaches their kubelets (logs, exec, attach, port-forward) and their Pods (the
// apiserver's proxy) over its eth1, with no tunnel; Pods on the two nodes reach each other through
// the VPC's routes to each node's Pod range.
func TestTenantNodesOverENI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	root := repoRoot()
	h := helmFor(t, 3)
	ns := testNamespace(ctx, t, "e2e-nodes")
	const podCIDR = "10.200.0.0/16" // the chart's default
	vpc := []string{"nodes", "--enis", "1", "--vpc-id", "vpc-nodes", "--subnet-id", "subnet-nodes", "--subnet", "10.240.1.0/24",
		"--host-address", vpcHostAddress, "--secondary-cidr", podCIDR}
	require.NoError(t, metaclusterCmd(ctx, append([]string{"vpc", "create"}, vpc...)...).Run())
	t.Cleanup(func() {
		assert.NoError(t, metaclusterCmd(context.Background(), append([]string{"vpc", "delete"}, vpc...)...).Run())
	})
	h.run(ctx, t, "install", "eni-agent", filepath.Join(root, "charts", "taowa-eni-agent"), "-n", ns, "--wait", "--timeout", "2m",
		"--set", "inventoryDir="+filepath.Dir(env.meta.ENIInventoryPath()), "--set", "interval=2s")
	t.Cleanup(func() { _, _ = h.output(context.Background(), "uninstall", "eni-agent", "-n", ns, "--wait") })
	waitUntil(ctx, t, "the node advertises the ENI of subnet-nodes", func(ctx context.Context) (bool, error) {
		node, err := env.client.CoreV1().Nodes().Get(ctx, metacluster.NodeName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		q := node.Status.Allocatable["eni.taowa.io/subnet-nodes"]
		return q.Value() == 1, nil
	})

	tn := tenant{release: "tenant-n", namespace: ns, version: "1.37.2", helm: h}
	h.run(ctx, t, "install", tn.release, filepath.Join(root, "charts", "tenant-master"), "-n", ns, "--wait", "--timeout", "5m",
		"--post-renderer", filepath.Join(root, "bin", "taowa-postrender"),
		"--set", "network.eni.enabled=true", "--set", "network.eni.vpcID=vpc-nodes", "--set", "network.eni.subnetID=subnet-nodes")
	t.Cleanup(func() { _, _ = h.output(context.Background(), "uninstall", tn.release, "-n", ns, "--wait") })
	client := tenantClient(ctx, t, tn)
	eni := allocatedENI(t, 1)

	cli := taowaCLI{namespace: ns}
	var params join.Parameters
	require.NoError(t, json.Unmarshal([]byte(cli.must(ctx, t, "join", tn.release, "-o", "json")), &params))
	server := eni.Address.Addr().String() + ":6443"
	require.Equal(t, []string{server}, params.Servers, "nodes join at the apiserver's ENI address")

	nodes := []string{"worker-1", "worker-2"}
	var wg sync.WaitGroup
	for _, name := range nodes {
		t.Cleanup(func() { assert.NoError(t, metaclusterCmd(context.Background(), "node", "delete", name).Run()) })
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := metaclusterCmd(ctx, "node", "add", name, "--vpc", "nodes", "--server", params.Servers[0],
				"--token", params.Token, "--discovery-token-ca-cert-hash", params.CACertHashes[0])
			cmd.Stdout, cmd.Stderr = nil, nil
			out, err := cmd.CombinedOutput()
			assert.NoError(t, err, "node add %s: %s", name, out)
			t.Logf("%s", out)
		}()
	}
	wg.Wait()
	require.False(t, t.Failed())
	for _, name := range nodes {
		node, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		require.NoError(t, err)
		assert.True(t, nodeIsReady(node), "node %s is Ready", name)
		assert.Equal(t, "v1.37.2", node.Status.NodeInfo.KubeletVersion)
	}

	nodeAddFails(ctx, t, "an unknown VPC", `VPC "elsewhere" does not exist`, "worker-3", "--vpc", "elsewhere",
		"--server", params.Servers[0], "--token", params.Token, "--discovery-token-ca-cert-hash", params.CACertHashes[0])
	nodeAddFails(ctx, t, "a name in use", "a node of that name exists", nodes[0], "--vpc", "nodes",
		"--server", params.Servers[0], "--token", params.Token, "--discovery-token-ca-cert-hash", params.CACertHashes[0])
	// A token past its expiry: the controller-manager's token cleaner deletes it, and the
	// bootstrap signer withdraws its signature of cluster-info.
	var expired join.Parameters
	require.NoError(t, json.Unmarshal([]byte(cli.must(ctx, t, "join", tn.release, "--ttl", "2s", "-o", "json")), &expired))
	expiredID, _, _ := strings.Cut(expired.Token, ".")
	waitUntil(ctx, t, "the expired token's Secret is deleted", func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().Secrets("kube-system").Get(ctx, "bootstrap-token-"+expiredID, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	nodeAddFails(ctx, t, "an expired token", "no jws-kubeconfig-"+expiredID+": cluster-info has no signature", "worker-3", "--vpc", "nodes",
		"--server", params.Servers[0], "--token", expired.Token, "--discovery-token-ca-cert-hash", params.CACertHashes[0])

	// A Deployment spread over both nodes: each Pod serves its name over HTTP and logs a tick a
	// second.
	pods := spreadDeployment(ctx, t, client, "echo", len(nodes))
	a, b := pods[0], pods[1]
	require.NotEqual(t, a.Spec.NodeName, b.Spec.NodeName)
	kubeconfig := adminKubeconfigFile(ctx, t, tn)
	tenantKubectl := func(args ...string) (string, error) {
		out, err := exec.CommandContext(ctx, env.kubectl, append([]string{"--kubeconfig", kubeconfig, "-n", "default"}, args...)...).CombinedOutput()
		return string(out), err
	}

	// `kubectl logs -f` through the apiserver and the kubelet streams without a break while the
	// rest of the test runs.
	logsDone := make(chan error, 1)
	go func() { logsDone <- followLogs(ctx, client, a.Name, 2*time.Minute) }()

	// exec (apiserver to kubelet over eth1), and from Pod a to Pod b on the other node (the VPC
	// routes b's node's Pod range to that node).
	out, err := tenantKubectl("exec", a.Name, "--", "timeout", "5", "wget", "-qO-", fmt.Sprintf("http://%s:8080/", b.Status.PodIP))
	require.NoError(t, err, out)
	assert.Equal(t, b.Name, strings.TrimSpace(out), "Pod %s on %s reaches Pod %s on %s", a.Name, a.Spec.NodeName, b.Name, b.Spec.NodeName)

	// The apiserver reaches a Pod on a node: its proxy dials the Pod's address over eth1.
	body, err := client.CoreV1().Pods("default").ProxyGet("http", b.Name, "8080", "/", nil).DoRaw(ctx)
	require.NoError(t, err)
	assert.Equal(t, b.Name, strings.TrimSpace(string(body)))

	// The add-ons: kube-proxy on both nodes, CoreDNS; a Service's ClusterIP and DNS name reach
	// the Pods on both nodes.
	waitUntil(ctx, t, "kube-proxy runs on both nodes and CoreDNS is ready", func(ctx context.Context) (bool, error) {
		ds, err := client.AppsV1().DaemonSets("kube-system").Get(ctx, "kube-proxy", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		dns, err := client.AppsV1().Deployments("kube-system").Get(ctx, "coredns", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return ds.Status.NumberReady == int32(len(nodes)) && dns.Status.ReadyReplicas == 1, nil
	})
	svc, err := client.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "echo"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "echo"},
			Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	for _, target := range []string{svc.Spec.ClusterIP, "echo.default.svc.cluster.local"} {
		seen := map[string]bool{}
		waitUntil(ctx, t, "http://"+target+" answers from both Pods", func(ctx context.Context) (bool, error) {
			out, err := tenantKubectl("exec", a.Name, "--", "timeout", "5", "wget", "-qO-", "http://"+target+"/")
			if err != nil {
				return false, fmt.Errorf("%v: %s", err, out)
			}
			seen[strings.TrimSpace(out)] = true
			return seen[a.Name] && seen[b.Name], nil
		})
	}

	// attach: the container's output, through the kubelet.
	attachCtx, stopAttach := context.WithTimeout(ctx, 3*time.Second)
	attached, _ := exec.CommandContext(attachCtx, env.kubectl, "--kubeconfig", kubeconfig, "-n", "default", "attach", b.Name).CombinedOutput()
	stopAttach()
	assert.Regexp(t, `tick \d+`, string(attached), "kubectl attach streams the container's output")

	// port-forward: a local port to Pod b's 8080, through the apiserver and the kubelet.
	assert.Equal(t, b.Name, portForwardGet(ctx, t, kubeconfig, b.Name))

	require.NoError(t, <-logsDone, "kubectl logs -f of %s", a.Name)

	// Deleting a node leaves nothing of it on the machine.
	require.NoError(t, metaclusterCmd(ctx, "node", "delete", nodes[1]).Run())
	assert.Empty(t, nodeLeftovers(nodes[1], "nodes"))
}

// nodeAddFails runs `node add NAME args...`, which must fail with an error containing want and
// leave nothing of the node behind.
func nodeAddFails(ctx context.Context, t *testing.T, what, want, name string, args ...string) {
	t.Helper()
	cmd := metaclusterCmd(ctx, append([]string{"node", "add", name}, args...)...)
	cmd.Stdout, cmd.Stderr = nil, nil
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "node add with %s", what)
	assert.Contains(t, string(out), want, "node add with %s", what)
	if !strings.Contains(want, "exists") {
		assert.Empty(t, nodeLeftovers(name, "nodes"), "node add with %s", what)
	}
}

// nodeLeftovers lists what of node name is on the machine: its state, namespace, cgroups, and its
// link and Pod route in the VPC.
func nodeLeftovers(name, vpc string) []string {
	var left []string
	for _, path := range []string{
		filepath.Join(env.meta.StateDir, "nodes", name),
		"/run/netns/" + metacluster.NodeNetnsPrefix + name,
	} {
		if _, err := os.Stat(path); err == nil {
			left = append(left, path)
		}
	}
	cgroups, _ := filepath.Glob("/sys/fs/cgroup/*/" + metacluster.NodeNetnsPrefix + name)
	left = append(left, cgroups...)
	links, _ := exec.Command("ip", "-n", metacluster.VPCNetnsPrefix+vpc, "-o", "link", "show").Output()
	if strings.Contains(string(links), " n-"+name+"@") {
		left = append(left, "link n-"+name)
	}
	return left
}

func nodeIsReady(node *corev1.Node) bool {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// spreadDeployment creates a Deployment of busybox Pods, one per node, each serving its name on
// port 8080 and printing "tick N" every second, and returns its Pods once they are Ready.
func spreadDeployment(ctx context.Context, t *testing.T, client kubernetes.Interface, name string, replicas int) []corev1.Pod {
	t.Helper()
	labels := map[string]string{"app": name}
	script := `hostname > /tmp/index.html; httpd -p 8080 -h /tmp; i=0; while true; do echo "tick $i"; i=$((i+1)); sleep 1; done`
	n := int32(replicas)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &n,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{
						MaxSkew: 1, TopologyKey: corev1.LabelHostname, WhenUnsatisfiable: corev1.DoNotSchedule,
						LabelSelector: &metav1.LabelSelector{MatchLabels: labels},
					}},
					TerminationGracePeriodSeconds: new(int64),
					Containers: []corev1.Container{{
						Name: "echo", Image: metacluster.BusyboxImage, Command: []string{"sh", "-c", script},
						Ports:          []corev1.ContainerPort{{ContainerPort: 8080}},
						ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}}, PeriodSeconds: 1},
					}},
				},
			},
		},
	}
	_, err := client.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{})
	require.NoError(t, err)
	var pods []corev1.Pod
	waitUntil(ctx, t, fmt.Sprintf("%d Pods of %s Ready", replicas, name), func(ctx context.Context) (bool, error) {
		list, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
		if err != nil {
			return false, err
		}
		pods = pods[:0]
		for _, p := range list.Items {
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue && p.DeletionTimestamp == nil {
					pods = append(pods, p)
				}
			}
		}
		return len(pods) == replicas, nil
	})
	return pods
}

var tickLine = regexp.MustCompile(`^tick (\d+)$`)

// followLogs follows pod's log for d and fails if the stream ends early or a tick is missing.
func followLogs(ctx context.Context, client kubernetes.Interface, pod string, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	stream, err := client.CoreV1().Pods("default").GetLogs(pod, &corev1.PodLogOptions{Follow: true}).Stream(ctx)
	if err != nil {
		return err
	}
	defer stream.Close()
	start, last, lines := time.Now(), -1, 0
	sc := bufio.NewScanner(stream)
	for sc.Scan() {
		m := tickLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		if last >= 0 && n != last+1 {
			return fmt.Errorf("tick %d followed tick %d: the stream lost lines", n, last)
		}
		last = n
		lines++
	}
	if elapsed := time.Since(start); ctx.Err() == nil || elapsed < d-time.Second {
		return fmt.Errorf("the stream ended after %s and %d ticks: %v", elapsed.Round(time.Second), lines, sc.Err())
	}
	if lines < int(d.Seconds())-5 {
		return fmt.Errorf("only %d ticks in %s", lines, d)
	}
	return nil
}

var forwardingFrom = regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+)`)

// portForwardGet forwards a local port to pod's 8080 with kubectl and GETs / through it.
func portForwardGet(ctx context.Context, t *testing.T, kubeconfig, pod string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(ctx, env.kubectl, "--kubeconfig", kubeconfig, "-n", "default", "port-forward", "pod/"+pod, ":8080")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	defer func() { cancel(); _ = cmd.Wait() }()
	sc := bufio.NewScanner(stdout)
	var port string
	for sc.Scan() {
		if m := forwardingFrom.FindStringSubmatch(sc.Text()); m != nil {
			port = m[1]
			break
		}
	}
	require.NotEmpty(t, port, "kubectl port-forward printed no local port")
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	resp, err := http.Get("http://127.0.0.1:" + port + "/")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return strings.TrimSpace(string(body))
}
