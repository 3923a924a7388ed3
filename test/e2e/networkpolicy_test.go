//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// TestMetaClusterEnforcesNetworkPolicy: a server isolated by a policy that admits one label
// answers a client with that label and nobody else, in its namespace or another.
func TestMetaClusterEnforcesNetworkPolicy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ns, other := testNamespace(ctx, t, "e2e-netpol"), testNamespace(ctx, t, "e2e-netpol-other")
	c := env.client

	_, err := c.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "server", Labels: map[string]string{"app": "server"}},
		Spec:       busyboxPod("mkdir -p /tmp/www && exec httpd -f -p 8080 -h /tmp/www"),
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	var serverIP string
	waitUntil(ctx, t, "server Ready", func(ctx context.Context) (bool, error) {
		p, err := c.CoreV1().Pods(ns).Get(ctx, "server", metav1.GetOptions{})
		if err != nil || p.Status.Phase != corev1.PodRunning {
			return false, err
		}
		serverIP = p.Status.PodIP
		return true, nil
	})
	require.True(t, canConnect(ctx, t, ns, nil, serverIP, 8080), "before any policy the server is open")

	_, err = c.NetworkingV1().NetworkPolicies(ns).Create(ctx, &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "server"},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "server"}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From:  []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"role": "client"}}}},
				Ports: []networkingv1.NetworkPolicyPort{{Port: ptr.To(intstr.FromInt32(8080))}},
			}},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	require.True(t, canConnect(ctx, t, ns, map[string]string{"role": "client"}, serverIP, 8080), "a client the policy admits")
	require.False(t, canConnect(ctx, t, ns, nil, serverIP, 8080), "a Pod without the label")
	require.False(t, canConnect(ctx, t, other, map[string]string{"role": "client"}, serverIP, 8080), "the label in another namespace")
}

// canConnect runs a busybox Pod with the given labels that opens a TCP connection to ip:port and
// reports whether it succeeded. A dropped connection times out after 3 s. The probe waits a second
// first: the enforcer learns a new Pod's address from the API, a moment after the Pod starts.
func canConnect(ctx context.Context, t *testing.T, namespace string, labels map[string]string, ip string, port int) bool {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-", Labels: labels},
		Spec:       busyboxPod(fmt.Sprintf("sleep 1 && nc -w 3 %s %d </dev/null", ip, port)),
	}
	pod.Spec.RestartPolicy = corev1.RestartPolicyNever
	pod, err := env.client.CoreV1().Pods(namespace).Create(ctx, pod, metav1.CreateOptions{})
	require.NoError(t, err)
	defer env.client.CoreV1().Pods(namespace).Delete(context.Background(), pod.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	var phase corev1.PodPhase
	waitUntil(ctx, t, fmt.Sprintf("probe %s/%s %v to %s:%d done", namespace, pod.Name, labels, ip, port), func(ctx context.Context) (bool, error) {
		p, err := env.client.CoreV1().Pods(namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		phase = p.Status.Phase
		return phase == corev1.PodSucceeded || phase == corev1.PodFailed, nil
	})
	return phase == corev1.PodSucceeded
}
