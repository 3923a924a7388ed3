package doctor

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
)

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func node(name, ip string) corev1.Node {
	n := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}}
	n.Status.DaemonEndpoints.KubeletEndpoint.Port = 10250
	return n
}

func lease(renewed time.Time) coordinationv1.Lease {
	return coordinationv1.Lease{TypeMeta: metav1.TypeMeta{APIVersion: "coordination.k8s.io/v1", Kind: "Lease"},
		Spec: coordinationv1.LeaseSpec{RenewTime: &metav1.MicroTime{Time: renewed}}}
}

// unreachable is how the apiserver's proxy answers when it cannot dial the backend.
func unreachable(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusServiceUnavailable)
	_ = json.NewEncoder(w).Encode(metav1.Status{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Status"}, Status: metav1.StatusFailure,
		Code: 503, Reason: metav1.StatusReasonServiceUnavailable, Message: "error trying to reach service: dial tcp 10.240.1.101:10250: i/o timeout"})
}

// tenant serves what the checks read: worker-1 healthy; worker-2 with a stale heartbeat and a
// kubelet the apiserver cannot reach; a CoreDNS Pod; a webhook whose server answers 405 to GET.
func tenant(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	object := func(path string, v any) {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			require.NoError(t, json.NewEncoder(w).Encode(v))
		})
	}
	text := func(path, body string) {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(body)) })
	}
	text("/readyz", "ok")
	object("/api/v1/nodes", corev1.NodeList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "NodeList"},
		Items: []corev1.Node{node("worker-2", "10.240.1.101"), node("worker-1", "10.240.1.100")}})
	object("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/worker-1", lease(now.Add(-3*time.Second)))
	object("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/worker-2", lease(now.Add(-2*time.Minute)))
	text("/api/v1/nodes/worker-1/proxy/healthz", "ok")
	mux.HandleFunc("/api/v1/nodes/worker-2/proxy/healthz", func(w http.ResponseWriter, r *http.Request) { unreachable(w) })
	dns := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "coredns-1", Namespace: "kube-system"},
		Spec: corev1.PodSpec{NodeName: "worker-1"}, Status: corev1.PodStatus{PodIP: "10.200.0.5"}}
	object("/api/v1/namespaces/kube-system/pods", corev1.PodList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PodList"}, Items: []corev1.Pod{dns}})
	text("/api/v1/namespaces/kube-system/pods/http:coredns-1:8181/proxy/ready", "OK")
	object("/api/v1/namespaces/kube-system/services/kube-dns", corev1.Service{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		Spec: corev1.ServiceSpec{ClusterIP: "10.32.0.10"}})
	object("/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices", discoveryv1.EndpointSliceList{
		TypeMeta: metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSliceList"},
		Items:    []discoveryv1.EndpointSlice{{Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.200.0.5"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}}}}})
	object("/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations", admissionregistrationv1.ValidatingWebhookConfigurationList{
		TypeMeta: metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingWebhookConfigurationList"},
		Items: []admissionregistrationv1.ValidatingWebhookConfiguration{{ObjectMeta: metav1.ObjectMeta{Name: "deny"},
			Webhooks: []admissionregistrationv1.ValidatingWebhook{{Name: "deny.example.com", ClientConfig: admissionregistrationv1.WebhookClientConfig{
				Service: &admissionregistrationv1.ServiceReference{Namespace: "hooks", Name: "deny", Path: ptr.To("/validate")}}}}}}})
	mux.HandleFunc("/api/v1/namespaces/hooks/services/https:deny:443/proxy/validate", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	})
	object("/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations", admissionregistrationv1.MutatingWebhookConfigurationList{
		TypeMeta: metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "MutatingWebhookConfigurationList"}})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("unexpected request %s", r.URL)
		http.NotFound(w, r)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestRunNamesTheBrokenHops(t *testing.T) {
	srv := tenant(t)
	client, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
	require.NoError(t, err)
	report := Run(context.Background(), Clients{Kube: client, Server: srv.URL}, Options{Now: func() time.Time { return now }})

	results := map[string]Result{}
	for _, h := range report.Hops {
		results[h.Name()] = h.Result
	}
	assert.Equal(t, map[string]Result{
		"you -> apiserver (" + srv.URL + ")":                                        OK,
		"node worker-1 -> apiserver":                                                OK,
		"apiserver -> kubelet worker-1 (10.240.1.100:10250)":                        OK,
		"node worker-2 -> apiserver":                                                Failed,
		"apiserver -> kubelet worker-2 (10.240.1.101:10250)":                        Failed,
		"apiserver -> Pod kube-system/coredns-1 on worker-1 (10.200.0.5:8181)":      OK,
		"Pods -> DNS (10.32.0.10)":                                                  OK,
		"apiserver -> validating webhook deny.example.com (Service hooks/deny:443)": OK,
	}, results)
	assert.Equal(t, "node worker-1 -> apiserver", report.Hops[1].Name(), "nodes in name order")

	failed := report.Failed()
	require.Len(t, failed, 2)
	assert.Contains(t, failed[0].Detail, "last renewed its heartbeat Lease 2m0s ago")
	assert.Contains(t, failed[1].Detail, "the apiserver could not reach it: error trying to reach service: dial tcp 10.240.1.101:10250")
}

func TestRunStopsWhenTheAPIServerIsUnreachable(t *testing.T) {
	srv := tenant(t)
	srv.Close()
	client, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL, Timeout: time.Second})
	require.NoError(t, err)
	report := Run(context.Background(), Clients{Kube: client, Server: srv.URL}, Options{})
	require.Len(t, report.Hops, 1)
	assert.Equal(t, Failed, report.Hops[0].Result)
	assert.Contains(t, report.Hops[0].Detail, "connection refused")
}
