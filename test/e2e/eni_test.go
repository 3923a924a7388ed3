//go:build e2e

package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	"github.com/taowa/taowa/cni-eni/inventory"
	"github.com/taowa/taowa/hack/metacluster"
)

// TestTenantAPIServerOnENI gives a tenant's apiserver an ENI of a simulated tenant VPC: the agent
// DaemonSet advertises the VPC's ENIs on the Node, the apiserver Pod requests one and the eni
// plugin (chained after the bridge for every Pod) attaches it as eth1; from inside the VPC the
// apiserver answers /readyz on the ENI address, the tenant's `kubernetes` Service points at that
// address, the meta cluster still reaches the apiserver on eth0, and uninstall returns the ENI.
func TestTenantAPIServerOnENI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	root := repoRoot()
	h := helmFor(t, 3)
	ns := testNamespace(ctx, t, "e2e-eni")
	vpc := []string{"t1", "--enis", "2", "--vpc-id", "vpc-t1", "--subnet-id", "subnet-t1", "--subnet", "10.240.1.0/24", "--host-address", vpcHostAddress}
	createVPC(ctx, t, vpc...)
	installENIAgent(ctx, t, h, ns)
	waitENIsAdvertised(ctx, t, "subnet-t1", 2)
	bindVPC(ctx, t, ns, "vpc-t1")

	// Only a namespace bound to the VPC may take its ENIs: a Pod or a workload asking for one in
	// another namespace, unbound or bound to another VPC, is refused with a message that says so.
	other := testNamespace(ctx, t, "e2e-eni-other")
	wantRefused := "namespace " + other + " is not bound to VPC vpc-t1"
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "intruder", Annotations: map[string]string{"eni.taowa.io/vpc-id": "vpc-t1"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: metacluster.BusyboxImage}}},
	}
	waitUntil(ctx, t, "the agent's admission policy refuses ENIs of vpc-t1 to "+other, func(ctx context.Context) (bool, error) {
		_, err := env.client.CoreV1().Pods(other).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return apierrors.IsForbidden(err) || apierrors.IsInvalid(err), err
	})
	_, err := env.client.CoreV1().Pods(other).Create(ctx, pod, metav1.CreateOptions{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), wantRefused)
	bindVPC(ctx, t, other, "vpc-elsewhere")
	replicas := int32(1)
	_, err = env.client.AppsV1().Deployments(other).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "intruder"},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "intruder"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "intruder"}, Annotations: pod.Annotations}, Spec: pod.Spec}},
	}, metav1.CreateOptions{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), wantRefused, "a namespace bound to another VPC is refused too")

	tn := tenant{release: "tenant-e", namespace: ns, version: "1.37.2", helm: h}
	h.run(ctx, t, "install", tn.release, filepath.Join(root, "charts", "tenant-master"), "-n", ns, "--wait", "--timeout", "5m",
		"--post-renderer", filepath.Join(root, "bin", "taowa-postrender"),
		"--set", "network.eni.enabled=true", "--set", "network.eni.vpcID=vpc-t1", "--set", "network.eni.subnetID=subnet-t1")
	client := tenantClient(ctx, t, tn) // through the meta cluster's Service: eth0

	eni := allocatedENI(t, 1)
	t.Logf("the apiserver Pod holds ENI %s (%s)", eni.ID, eni.Address)
	slice, err := client.DiscoveryV1().EndpointSlices("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	require.NoError(t, err)
	require.Len(t, slice.Endpoints, 1)
	assert.Equal(t, []string{eni.Address.Addr().String()}, slice.Endpoints[0].Addresses, "the apiserver advertises its ENI address")

	// From a tenant host inside the VPC, over the ENI: /readyz, with the tenant's CA and a name of
	// its serving certificate.
	cfg, err := tenantRESTConfig(ctx, tn)
	require.NoError(t, err)
	readyz := readyzFromVPC(t, cfg, "/run/netns/"+metacluster.VPCNetnsPrefix+"t1", fmt.Sprintf("https://%s:6443/readyz", eni.Address.Addr()))
	assert.Equal(t, "ok", readyz)

	h.run(ctx, t, "uninstall", tn.release, "-n", ns, "--wait", "--timeout", "3m")
	waitUntil(ctx, t, "the apiserver Pod is gone", func(ctx context.Context) (bool, error) {
		pods, err := env.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=kube-apiserver"})
		return err == nil && len(pods.Items) == 0, err
	})
	allocs, err := inventory.NewStore(env.meta.ENIInventoryPath()).LoadAllocations()
	require.NoError(t, err)
	assert.Empty(t, allocs.ByENI, "the ENI is back on the node, free")

	// The VPC goes away: the agent stops advertising its subnet.
	require.NoError(t, metaclusterCmd(ctx, append([]string{"vpc", "delete"}, vpc...)...).Run())
	waitUntil(ctx, t, "the node no longer advertises subnet-t1", func(ctx context.Context) (bool, error) {
		node, err := env.client.CoreV1().Nodes().Get(ctx, metacluster.NodeName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		_, found := node.Status.Capacity["eni.taowa.io/subnet-t1"]
		return !found, nil
	})
}

// bindVPC lets namespace take the ENIs of vpcID, as a cluster administrator does.
func bindVPC(ctx context.Context, t *testing.T, namespace, vpcID string) {
	t.Helper()
	patch := fmt.Sprintf(`{"metadata":{"labels":{"vpc.eni.taowa.io/%s":"true"}}}`, vpcID)
	_, err := env.client.CoreV1().Namespaces().Patch(ctx, namespace, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	require.NoError(t, err)
}

// createVPC creates a simulated tenant VPC (`vpc create` args) and deletes it when the test ends.
func createVPC(ctx context.Context, t *testing.T, args ...string) {
	t.Helper()
	require.NoError(t, metaclusterCmd(ctx, append([]string{"vpc", "create"}, args...)...).Run())
	t.Cleanup(func() {
		assert.NoError(t, metaclusterCmd(context.Background(), append([]string{"vpc", "delete"}, args...)...).Run())
	})
}

// installENIAgent installs taowa-eni-agent in namespace, which advertises the node's ENIs.
func installENIAgent(ctx context.Context, t *testing.T, h helm, namespace string) {
	t.Helper()
	h.run(ctx, t, "install", "eni-agent", filepath.Join(repoRoot(), "charts", "taowa-eni-agent"), "-n", namespace, "--wait", "--timeout", "2m",
		"--set", "inventoryDir="+filepath.Dir(env.meta.ENIInventoryPath()), "--set", "interval=2s")
	t.Cleanup(func() { _, _ = h.output(context.Background(), "uninstall", "eni-agent", "-n", namespace, "--wait") })
}

// waitENIsAdvertised waits until the meta node advertises n ENIs of subnetID.
func waitENIsAdvertised(ctx context.Context, t *testing.T, subnetID string, n int64) {
	t.Helper()
	waitUntil(ctx, t, fmt.Sprintf("the node advertises %d ENIs of %s", n, subnetID), func(ctx context.Context) (bool, error) {
		node, err := env.client.CoreV1().Nodes().Get(ctx, metacluster.NodeName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		q := node.Status.Allocatable[corev1.ResourceName("eni.taowa.io/"+subnetID)]
		return q.Value() == n, nil
	})
}

// allocatedENI returns the one ENI the node's allocations hold, after checking there are n.
func allocatedENI(t *testing.T, n int) inventory.ENI {
	t.Helper()
	store := inventory.NewStore(env.meta.ENIInventoryPath())
	allocs, err := store.LoadAllocations()
	require.NoError(t, err)
	require.Len(t, allocs.ByENI, n)
	inv, err := store.LoadInventory()
	require.NoError(t, err)
	for _, e := range inv.ENIs {
		if _, ok := allocs.ByENI[e.ID]; ok {
			return e
		}
	}
	t.Fatal("the allocated ENI is not in the inventory")
	return inventory.ENI{}
}

// vpcHostAddress is the tenant host's address in the test's VPC, outside the ENI subnet.
const vpcHostAddress = "10.240.2.10"

// readyzFromVPC GETs url from the tenant host's address inside the VPC namespace at netnsPath,
// verifying the serving certificate against cfg's CA for the tenant's kubernetes.default.svc name.
func readyzFromVPC(t *testing.T, cfg *rest.Config, netnsPath, url string) string {
	t.Helper()
	vpcNS, err := ns.GetNS(netnsPath)
	require.NoError(t, err)
	defer vpcNS.Close()
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(cfg.CAData))
	cert, err := tls.X509KeyPair(cfg.CertData, cfg.KeyData)
	require.NoError(t, err)
	transport := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "kubernetes.default.svc", Certificates: []tls.Certificate{cert}},
		// A socket belongs to the namespace of the thread that creates it.
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var conn net.Conn
			err := vpcNS.Do(func(ns.NetNS) error {
				d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(vpcHostAddress)}}
				var err error
				conn, err = d.DialContext(ctx, network, addr)
				return err
			})
			return conn, err
		},
	}
	defer transport.CloseIdleConnections()
	c := &http.Client{Transport: transport, Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	require.NoError(t, err, "GET %s from the VPC", url)
	defer resp.Body.Close()
	var body [64]byte
	n, _ := resp.Body.Read(body[:])
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body[:n])
	return string(body[:n])
}
