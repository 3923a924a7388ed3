package metacluster

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func pod(ns, name, ip string, lbls map[string]string, ports ...corev1.ContainerPort) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: lbls},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Ports: ports}}},
		Status:     corev1.PodStatus{PodIP: ip, Phase: corev1.PodRunning},
	}
}

func namespace(name string, lbls map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls}}
}

func port(p intstr.IntOrString) networkingv1.NetworkPolicyPort {
	return networkingv1.NetworkPolicyPort{Port: &p}
}

// etcdPolicy has the shape of the chart's policy: etcd admits only its apiserver and its peers.
func etcdPolicy(ns string) *networkingv1.NetworkPolicy {
	sel := func(c string) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchLabels: map[string]string{"component": c}}
	}
	return &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "etcd"},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: *sel("etcd"),
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{
				{From: []networkingv1.NetworkPolicyPeer{{PodSelector: sel("apiserver")}}, Ports: []networkingv1.NetworkPolicyPort{port(intstr.FromInt32(2379))}},
				{From: []networkingv1.NetworkPolicyPeer{{PodSelector: sel("etcd")}}, Ports: []networkingv1.NetworkPolicyPort{port(intstr.FromInt32(2379)), port(intstr.FromInt32(2380))}},
			},
		},
	}
}

func TestIngressRulesetIsolatesOnlySelectedPods(t *testing.T) {
	pods := []*corev1.Pod{
		pod("tenant-a", "etcd-0", "10.244.0.10", map[string]string{"component": "etcd"}),
		pod("tenant-a", "apiserver", "10.244.0.11", map[string]string{"component": "apiserver"}),
		pod("tenant-a", "other", "10.244.0.12", map[string]string{"component": "other"}),
		// Same labels in another namespace: neither isolated by tenant-a's policy nor admitted by it.
		pod("tenant-b", "apiserver", "10.244.0.21", map[string]string{"component": "apiserver"}),
		pod("tenant-b", "etcd-0", "10.244.0.20", map[string]string{"component": "etcd"}),
	}
	got := ingressRuleset([]*networkingv1.NetworkPolicy{etcdPolicy("tenant-a")}, pods, nil)

	assert.Contains(t, got, `ip daddr 10.244.0.10 jump pod-1 comment "tenant-a/etcd-0"`)
	assert.Equal(t, 1, strings.Count(got, " jump "), "only tenant-a's etcd is isolated:\n%s", got)
	assert.Contains(t, got, "ip saddr { 10.244.0.11 } tcp dport 2379 accept")
	assert.Contains(t, got, "ip saddr { 10.244.0.10 } tcp dport 2380 accept")
	assert.NotContains(t, got, "10.244.0.21", "tenant-b's apiserver must not be admitted")
	assert.NotContains(t, got, "10.244.0.12", "an unlabelled Pod must not be admitted")
	assert.Contains(t, got, "\t\tdrop\n", "whatever no rule allows is dropped")
	assert.Equal(t, got, ingressRuleset([]*networkingv1.NetworkPolicy{etcdPolicy("tenant-a")}, pods, nil), "output must be deterministic")
}

func TestIngressRulesetPeersAndPorts(t *testing.T) {
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	pol := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "web"},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{}, // every Pod of the namespace
			Ingress: []networkingv1.NetworkPolicyIngressRule{
				{
					From: []networkingv1.NetworkPolicyPeer{
						{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "blue"}}},
						{IPBlock: &networkingv1.IPBlock{CIDR: "192.0.2.0/24", Except: []string{"192.0.2.128/25"}}},
					},
					Ports: []networkingv1.NetworkPolicyPort{
						port(intstr.FromString("http")),
						port(intstr.FromString("no-such-port")),
						{Protocol: &udp, Port: ptr.To(intstr.FromInt32(5000)), EndPort: ptr.To[int32](5010)},
						{Protocol: &tcp},
					},
				},
				{}, // from anywhere, any port
			},
		},
	}
	pods := []*corev1.Pod{
		pod("app", "web", "10.244.0.30", nil, corev1.ContainerPort{Name: "http", ContainerPort: 8080}),
		pod("blue", "client", "10.244.0.31", nil),
		pod("red", "client", "10.244.0.32", nil),
		{ObjectMeta: metav1.ObjectMeta{Namespace: "blue", Name: "host"}, Spec: corev1.PodSpec{HostNetwork: true}, Status: corev1.PodStatus{PodIP: "10.250.250.2"}},
	}
	got := ingressRuleset([]*networkingv1.NetworkPolicy{pol}, pods, []*corev1.Namespace{
		namespace("blue", map[string]string{"team": "blue"}), namespace("red", nil), namespace("app", nil),
	})

	assert.Contains(t, got, "ip saddr { 10.244.0.31 } tcp dport 8080 accept", "named port resolved on the destination")
	assert.Contains(t, got, "ip saddr 192.0.2.0/24 ip saddr != { 192.0.2.128/25 } udp dport 5000-5010 accept")
	assert.Contains(t, got, "ip saddr { 10.244.0.31 } meta l4proto tcp accept")
	assert.Contains(t, got, "meta nfproto ipv4 accept", "an empty rule admits everything")
	assert.NotContains(t, got, "10.244.0.32", "a namespace without the label is not admitted")
	assert.NotContains(t, got, "10.250.250.2", "host-network Pods are neither isolated nor peers")
	assert.NotContains(t, got, "no-such-port")
}

func TestIngressRulesetIgnoresEgressOnlyPolicies(t *testing.T) {
	pol := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "egress"},
		Spec:       networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}},
	}
	got := ingressRuleset([]*networkingv1.NetworkPolicy{pol}, []*corev1.Pod{pod("app", "web", "10.244.0.30", nil)}, nil)
	assert.NotContains(t, got, "jump")
}

// TestIngressRulesetLoadsIntoNftables checks the rendered table with the real nft in a throwaway
// network namespace.
func TestIngressRulesetLoadsIntoNftables(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft not installed (hack/install-deps.sh installs nftables)")
	}
	pods := []*corev1.Pod{
		pod("tenant-a", "etcd-0", "10.244.0.10", map[string]string{"component": "etcd"}),
		pod("tenant-a", "apiserver", "10.244.0.11", map[string]string{"component": "apiserver"}),
	}
	cmd := exec.Command("unshare", "--net", "nft", "-c", "-f", "-")
	cmd.Stdin = strings.NewReader(ingressRuleset([]*networkingv1.NetworkPolicy{etcdPolicy("tenant-a")}, pods, nil))
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
}

// A terminating Pod's object outlives its sandbox: a new Pod may already have its address, and
// must not be isolated (or admitted) by the old Pod's policies.
func TestIngressRulesetGivesAReusedAddressToItsNewPod(t *testing.T) {
	old := pod("tenant-a", "etcd-0", "10.244.0.10", map[string]string{"component": "etcd"})
	old.DeletionTimestamp = ptr.To(metav1.Now())
	web := pod("apps", "web", "10.244.0.10", map[string]string{"app": "web"})
	got := ingressRuleset([]*networkingv1.NetworkPolicy{etcdPolicy("tenant-a")}, []*corev1.Pod{old, web}, nil)
	assert.NotContains(t, got, " jump ", "the address is the web Pod's, which no policy selects:\n%s", got)

	// Neither terminating: the newer Pod holds the address.
	older := pod("tenant-a", "etcd-0", "10.244.0.10", map[string]string{"component": "etcd"})
	older.CreationTimestamp = metav1.NewTime(metav1.Now().Add(-time.Hour))
	web.CreationTimestamp = metav1.Now()
	got = ingressRuleset([]*networkingv1.NetworkPolicy{etcdPolicy("tenant-a")}, []*corev1.Pod{web, older}, nil)
	assert.NotContains(t, got, " jump ", "the newer Pod holds the address:\n%s", got)
}
