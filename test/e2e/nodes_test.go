//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/taowa/taowa/hack/metacluster"
	"github.com/taowa/taowa/hooks/join"
	"github.com/taowa/taowa/hooks/kubeletcsr"
	"github.com/taowa/taowa/internal/certs"
	"github.com/taowa/taowa/release/doctor"
	"github.com/taowa/taowa/release/tenants"
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
	createVPC(ctx, t, "nodes", "--enis", "1", "--vpc-id", "vpc-nodes", "--subnet-id", "subnet-nodes", "--subnet", "10.240.1.0/24",
		"--host-address", vpcHostAddress, "--secondary-cidr", podCIDR)
	installENIAgent(ctx, t, h, ns)
	waitENIsAdvertised(ctx, t, "subnet-nodes", 1)
	bindVPC(ctx, t, ns, "vpc-nodes")

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
	info, err := client.CoreV1().ConfigMaps("kube-public").Get(ctx, "cluster-info", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Contains(t, info.Data["kubeconfig"], "server: https://"+server, "kubeadm join bootstraps at the server cluster-info names")

	// worker-1 joins as node add does it, worker-2 with the real `kubeadm join`; everything below
	// holds for both.
	const kubeadmNode = "worker-2"
	nodes := []string{"worker-1", kubeadmNode}
	var wg sync.WaitGroup
	for _, name := range nodes {
		t.Cleanup(func() { assert.NoError(t, metaclusterCmd(context.Background(), "node", "delete", name).Run()) })
		wg.Add(1)
		go func() {
			defer wg.Done()
			args := []string{"node", "add", name, "--vpc", "nodes", "--server", params.Servers[0],
				"--token", params.Token, "--discovery-token-ca-cert-hash", params.CACertHashes[0]}
			if name == kubeadmNode {
				args = append(args, "--kubeadm")
			}
			cmd := metaclusterCmd(ctx, args...)
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

	// Each kubelet's serving certificate was approved beside the controller-manager, so that the
	// apiserver verifies the kubelets (exec, logs and the rest below depend on it).
	waitUntil(ctx, t, "both kubelets' serving certificates are approved", func(ctx context.Context) (bool, error) {
		csrs, err := client.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		approved := map[string]bool{}
		for _, csr := range csrs.Items {
			for _, c := range csr.Status.Conditions {
				if csr.Spec.SignerName == certificatesv1.KubeletServingSignerName && c.Type == certificatesv1.CertificateApproved && c.Reason == kubeletcsr.Reason {
					approved[csr.Spec.Username] = true
				}
			}
		}
		return approved["system:node:"+nodes[0]] && approved["system:node:"+nodes[1]], nil
	})

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
	require.NoError(t, err, "%s\n%s", out, pathDiagnostics("nodes", nodes))
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

	t.Run("webhook and aggregated API served on a node", func(t *testing.T) {
		webhookOnNodes(ctx, t, client, tn, nodes)
	})

	// taowa doctor: every hop works; with b's node cut off from the VPC, it names the broken hop
	// (the apiserver to b's kubelet) and exits non-zero; reconnected, it passes again.
	report, err := doctorReport(ctx, cli, tn.release)
	require.NoError(t, err, "%+v", report)
	hops := map[string]doctor.Result{}
	for _, h := range report.Hops {
		hops[h.Name()] = h.Result
	}
	for _, n := range []*corev1.Pod{&a, &b} {
		assert.Equal(t, doctor.OK, hops["node "+n.Spec.NodeName+" -> apiserver"], "%+v", report)
		assert.Equal(t, doctor.OK, hops[fmt.Sprintf("apiserver -> kubelet %s (%s:10250)", n.Spec.NodeName, n.Status.HostIP)], "%+v", report)
	}
	nodeLink := []string{"-n", metacluster.VPCNetnsPrefix + "nodes", "link", "set", "n-" + b.Spec.NodeName}
	require.NoError(t, exec.Command("ip", append(nodeLink, "down")...).Run())
	report, err = doctorReport(ctx, cli, tn.release)
	require.Error(t, err, "doctor exits non-zero with a hop down")
	var failed []string
	for _, h := range report.Failed() {
		failed = append(failed, h.Name())
	}
	assert.Contains(t, failed, fmt.Sprintf("apiserver -> kubelet %s (%s:10250)", b.Spec.NodeName, b.Status.HostIP))
	for _, f := range failed {
		assert.NotContains(t, f, a.Spec.NodeName, "only hops through %s's link fail", b.Spec.NodeName)
	}
	require.NoError(t, exec.Command("ip", append(nodeLink, "up")...).Run())
	waitUntil(ctx, t, "taowa doctor passes again", func(ctx context.Context) (bool, error) {
		_, err := doctorReport(ctx, cli, tn.release)
		return err == nil, nil
	})

	// A second tenant whose VPC has the same CIDRs: its node sits on the same address as one of
	// the first tenant's, its Pods in the same Pod range. Each tenant's Pods reach their own
	// tenant's addresses only.
	t.Run("colliding VPCs", func(t *testing.T) {
		other := tenant{release: "tenant-o", namespace: ns, version: "1.37.2", helm: h}
		createVPC(ctx, t, "nodes2", "--enis", "1", "--vpc-id", "vpc-nodes2", "--subnet-id", "subnet-nodes2", "--subnet", "10.240.1.0/24",
			"--host-address", vpcHostAddress, "--secondary-cidr", podCIDR)
		bindVPC(ctx, t, ns, "vpc-nodes2")
		h.run(ctx, t, "install", other.release, filepath.Join(root, "charts", "tenant-master"), "-n", ns, "--wait", "--timeout", "5m",
			"--post-renderer", filepath.Join(root, "bin", "taowa-postrender"),
			"--set", "network.eni.enabled=true", "--set", "network.eni.vpcID=vpc-nodes2", "--set", "network.eni.subnetID=subnet-nodes2")
		t.Cleanup(func() { _, _ = h.output(context.Background(), "uninstall", other.release, "-n", ns, "--wait") })
		var p2 join.Parameters
		require.NoError(t, json.Unmarshal([]byte(cli.must(ctx, t, "join", other.release, "-o", "json")), &p2))
		require.Equal(t, params.Servers, p2.Servers, "both apiservers have the same address, each in its own VPC")
		t.Cleanup(func() { assert.NoError(t, metaclusterCmd(context.Background(), "node", "delete", "other-1").Run()) })
		cmd := metaclusterCmd(ctx, "node", "add", "other-1", "--vpc", "nodes2", "--server", p2.Servers[0],
			"--token", p2.Token, "--discovery-token-ca-cert-hash", p2.CACertHashes[0])
		cmd.Stdout, cmd.Stderr = nil, nil
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		client2 := tenantClient(ctx, t, other)
		node, err := client2.CoreV1().Nodes().Get(ctx, "other-1", metav1.GetOptions{})
		require.NoError(t, err)
		require.Contains(t, []string{a.Status.HostIP, b.Status.HostIP}, node.Status.Addresses[0].Address,
			"a node of each tenant has the same address")
		c := spreadDeployment(ctx, t, client2, "echo", 1)[0]

		// The same address means a different Pod in each tenant: each sees its own.
		mine, err := tenantKubectl("exec", a.Name, "--", "timeout", "3", "wget", "-qO-", fmt.Sprintf("http://%s:8080/", c.Status.PodIP))
		assert.NotEqual(t, c.Name, strings.TrimSpace(mine), "tenant-n's Pod reached tenant-o's Pod (%v)", err)
		kubeconfig2 := adminKubeconfigFile(ctx, t, other)
		for _, p := range []corev1.Pod{a, b} {
			out, err := exec.CommandContext(ctx, env.kubectl, "--kubeconfig", kubeconfig2, "-n", "default", "exec", c.Name, "--",
				"timeout", "3", "wget", "-qO-", fmt.Sprintf("http://%s:8080/", p.Status.PodIP)).CombinedOutput()
			assert.NotEqual(t, p.Name, strings.TrimSpace(string(out)), "tenant-o's Pod reached tenant-n's Pod (%v)", err)
		}
		body, err := client2.CoreV1().Pods("default").ProxyGet("http", c.Name, "8080", "/", nil).DoRaw(ctx)
		require.NoError(t, err)
		assert.Equal(t, c.Name, strings.TrimSpace(string(body)), "tenant-o's apiserver reaches its own Pod at the shared address")
	})

	// A second apiserver finds no free ENI of subnet-nodes (the VPC has one, which the first
	// holds): taowa status --health and taowa events name the subnet; scaled back, all is well.
	kubectl(t, "-n", ns, "scale", "deployment", tn.release+"-apiserver", "--replicas", "2")
	var starved tenants.ComponentHealth
	waitUntil(ctx, t, "the second apiserver reported unschedulable", func(ctx context.Context) (bool, error) {
		out, _ := cli.run(ctx, "status", tn.release, "--health", "-o", "json")
		var h tenants.Health
		if err := json.Unmarshal([]byte(out), &h); err != nil {
			return false, err
		}
		starved = h.Components[slices.IndexFunc(h.Components, func(c tenants.ComponentHealth) bool { return c.Component == "kube-apiserver" })]
		return starved.Reason == tenants.ReasonUnschedulable, fmt.Errorf("%+v", starved)
	})
	assert.Contains(t, starved.Message, "eni.taowa.io/subnet-nodes", "the condition names the subnet")
	assert.Equal(t, int32(1), starved.Ready, "the first apiserver still serves")
	var entries []tenants.Event
	require.NoError(t, json.Unmarshal([]byte(cli.must(ctx, t, "events", tn.release, "--since", "5m", "-o", "json")), &entries))
	assert.True(t, slices.ContainsFunc(entries, func(e tenants.Event) bool {
		return e.Type == "Warning" && e.Reason == "FailedScheduling" && strings.HasPrefix(e.Object, "pod/"+tn.release+"-apiserver-") &&
			strings.Contains(e.Message, "eni.taowa.io/subnet-nodes")
	}), "a FailedScheduling event names the subnet: %+v", entries)
	kubectl(t, "-n", ns, "scale", "deployment", tn.release+"-apiserver", "--replicas", "1")
	waitUntil(ctx, t, "taowa status --health passes again", func(ctx context.Context) (bool, error) {
		_, err := cli.run(ctx, "status", tn.release, "--health")
		return err == nil, err
	})

	// b's kubelet stops: the controller-manager marks its Node not Ready once the node monitor's
	// grace period (50 s) passes without a heartbeat, and the taint it sets evicts b (which
	// tolerates it for 5 s) as on any cluster.
	stopped := time.Now()
	stopKubelet(t, b.Spec.NodeName)
	waitUntil(ctx, t, "Node "+b.Spec.NodeName+" is not Ready", func(ctx context.Context) (bool, error) {
		node, err := client.CoreV1().Nodes().Get(ctx, b.Spec.NodeName, metav1.GetOptions{})
		return err == nil && !nodeIsReady(node), err
	})
	assert.Less(t, time.Since(stopped), 65*time.Second, "the node monitor's grace period is 50 s")
	waitUntil(ctx, t, "Pod "+b.Name+" is evicted", func(ctx context.Context) (bool, error) {
		pod, err := client.CoreV1().Pods("default").Get(ctx, b.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return err == nil && pod.DeletionTimestamp != nil, err
	})

	require.NoError(t, <-logsDone, "kubectl logs -f of %s", a.Name)

	// Deleting a node leaves nothing of it on the machine.
	require.NoError(t, metaclusterCmd(ctx, "node", "delete", b.Spec.NodeName).Run())
	assert.Empty(t, nodeLeftovers(b.Spec.NodeName, "nodes"))
}

// webhookOnNodes runs test/e2e/webhookserver as a Pod on the tenant's nodes and registers it as
// a validating admission webhook and as the aggregated API echo.taowa.io/v1alpha1: the apiserver
// calls both at the Pod's address (endpoint routing, over its ENI).
func webhookOnNodes(ctx context.Context, t *testing.T, client kubernetes.Interface, tn tenant, nodes []string) {
	bin := filepath.Join(t.TempDir(), "webhookserver")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./webhookserver")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	const image = "ghcr.io/taowa/e2e-webhookserver:test"
	for _, n := range nodes {
		require.NoError(t, metaclusterCmd(ctx, "images", "--node", n, image+"="+bin).Run())
	}
	ca, err := certs.NewCA("e2e-webhook-ca", time.Hour)
	require.NoError(t, err)
	serving, err := ca.Issue(certs.Spec{CommonName: "echo-webhook.default.svc", DNSNames: []string{"echo-webhook.default.svc"},
		Usages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, Validity: time.Hour})
	require.NoError(t, err)
	keyPEM, err := serving.KeyPEM()
	require.NoError(t, err)
	_, err = client.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "echo-webhook-tls"},
		Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": serving.CertPEM(), "tls.key": keyPEM}}, metav1.CreateOptions{})
	require.NoError(t, err)
	labels := map[string]string{"app": "echo-webhook"}
	one := int32(1)
	_, err = client.AppsV1().Deployments("default").Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "echo-webhook"},
		Spec: appsv1.DeploymentSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "server", Image: image, Ports: []corev1.ContainerPort{{ContainerPort: 8443}},
					ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8443)}}, PeriodSeconds: 1},
					VolumeMounts:   []corev1.VolumeMount{{Name: "tls", MountPath: "/tls"}}}},
				Volumes: []corev1.Volume{{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "echo-webhook-tls"}}}},
			}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = client.CoreV1().Services("default").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "echo-webhook"},
		Spec: corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Port: 443, TargetPort: intstr.FromInt32(8443)}}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	waitUntil(ctx, t, "the webhook server is ready", func(ctx context.Context) (bool, error) {
		d, err := client.AppsV1().Deployments("default").Get(ctx, "echo-webhook", metav1.GetOptions{})
		return err == nil && d.Status.ReadyReplicas == 1, err
	})

	fail, none := admissionregistrationv1.Fail, admissionregistrationv1.SideEffectClassNone
	_, err = client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-deny"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name: "deny.echo.taowa.io",
			ClientConfig: admissionregistrationv1.WebhookClientConfig{CABundle: ca.CertPEM(),
				Service: &admissionregistrationv1.ServiceReference{Namespace: "default", Name: "echo-webhook", Path: ptr.To("/validate")}},
			Rules: []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}}}},
			ObjectSelector:          &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "taowa.io/deny", Operator: metav1.LabelSelectorOpExists}}},
			FailurePolicy:           &fail,
			SideEffects:             &none,
			AdmissionReviewVersions: []string{"v1"},
			TimeoutSeconds:          ptr.To[int32](5),
		}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	waitUntil(ctx, t, "the webhook on the node rejects a labelled ConfigMap", func(ctx context.Context) (bool, error) {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "denied-", Labels: map[string]string{"taowa.io/deny": ""}}}
		created, err := client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{})
		if err == nil { // the configuration is not loaded yet
			return false, client.CoreV1().ConfigMaps("default").Delete(ctx, created.Name, metav1.DeleteOptions{})
		}
		if strings.Contains(err.Error(), "denied by the webhook on the tenant's node") {
			return true, nil
		}
		return false, err
	})
	_, err = client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "allowed"}}, metav1.CreateOptions{})
	require.NoError(t, err, "objects without the label are not sent to the webhook")

	cfg, err := tenantRESTConfig(ctx, tn)
	require.NoError(t, err)
	dyn, err := dynamic.NewForConfig(cfg)
	require.NoError(t, err)
	apiService := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
		"metadata": map[string]any{"name": "v1alpha1.echo.taowa.io"},
		"spec": map[string]any{
			"group": "echo.taowa.io", "version": "v1alpha1", "groupPriorityMinimum": int64(1000), "versionPriority": int64(15),
			"caBundle": base64.StdEncoding.EncodeToString(ca.CertPEM()),
			"service":  map[string]any{"namespace": "default", "name": "echo-webhook", "port": int64(443)},
		},
	}}
	_, err = dyn.Resource(schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}).Create(ctx, apiService, metav1.CreateOptions{})
	require.NoError(t, err)
	waitUntil(ctx, t, "the aggregated API on the node answers through the apiserver", func(ctx context.Context) (bool, error) {
		body, err := client.Discovery().RESTClient().Get().AbsPath("/apis/echo.taowa.io/v1alpha1").DoRaw(ctx)
		return err == nil && strings.Contains(string(body), `"echoes"`), nil
	})
}

// doctorReport runs `taowa doctor NAME -o json`; its error is the command's (non-zero on a failed
// hop).
func doctorReport(ctx context.Context, cli taowaCLI, name string) (doctor.Report, error) {
	out, err := cli.run(ctx, "doctor", name, "-o", "json", "--timeout", "3s")
	var report doctor.Report
	if jerr := json.Unmarshal([]byte(out), &report); jerr != nil {
		return report, errors.Join(err, fmt.Errorf("doctor output %q: %w", out, jerr))
	}
	return report, err
}

// stopKubelet stops the kubelet of a local tenant node by its recorded PID (the PID file holds the
// PID and the process's start time).
func stopKubelet(t *testing.T, node string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(env.meta.StateDir, "nodes", node, "run", "kubelet.pid"))
	require.NoError(t, err)
	var pid int
	_, err = fmt.Sscanf(string(data), "%d", &pid)
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(pid, syscall.SIGTERM))
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
					Tolerations: []corev1.Toleration{
						{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](5)},
						{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](5)},
					},
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

// pathDiagnostics shows the routes, neighbours and packet filters on the way between the nodes
// of vpc, for a failure's message.
func pathDiagnostics(vpc string, nodes []string) string {
	var b strings.Builder
	show := func(ns string, args ...string) {
		out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...).CombinedOutput()
		fmt.Fprintf(&b, "--- %s: %s (err %v)\n%s", ns, strings.Join(args, " "), err, out)
	}
	vpcNS := metacluster.VPCNetnsPrefix + vpc
	show(vpcNS, "ip", "route")
	show(vpcNS, "ip", "neigh")
	show(vpcNS, "ip", "-s", "link")
	for _, n := range nodes {
		ns := metacluster.NodeNetnsPrefix + n
		show(ns, "ip", "route")
		show(ns, "ip", "neigh")
		show(ns, "ip", "-br", "addr")
		show(ns, "iptables-save", "-c")
		show(ns, "sh", "-c", "cat /proc/net/nf_conntrack 2>/dev/null | head -50")
	}
	return b.String()
}
