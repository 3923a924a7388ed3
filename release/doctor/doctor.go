// Package doctor checks the paths between a tenant master and its nodes hop by hop, from the
// master's side and through the tenant's own apiserver: that the client reaches the apiserver,
// each node's kubelet reaches it (a fresh heartbeat lease), the apiserver reaches each kubelet
// (its /healthz through the node proxy), Pods on the nodes (CoreDNS's /ready through the Pod
// proxy), webhook Services and aggregated APIs, and that DNS has ready endpoints. Each hop is a
// typed result, so that the CLI, the operator and scripts judge failures the same way.
package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Result of a hop.
type Result string

const (
	OK      Result = "ok"
	Failed  Result = "failed"
	Skipped Result = "skipped"
)

// Hop is one leg of a path, from one end to the other, and what checking it found.
type Hop struct {
	From   string `json:"from"`
	To     string `json:"to"`
	Result Result `json:"result"`
	Detail string `json:"detail"`
}

// Name is how the hop is shown: "from -> to".
func (h Hop) Name() string { return h.From + " -> " + h.To }

// Report is every hop checked, in order.
type Report struct {
	Hops []Hop `json:"hops"`
}

// Failed returns the hops that failed.
func (r Report) Failed() []Hop {
	var failed []Hop
	for _, h := range r.Hops {
		if h.Result == Failed {
			failed = append(failed, h)
		}
	}
	return failed
}

// Clients reach the tenant's apiserver with an identity that may read everything the checks read
// and use the node, Pod and Service proxies (the admin kubeconfig's).
type Clients struct {
	Kube kubernetes.Interface
	// Dynamic reads APIServices (apiregistration.k8s.io); nil skips the aggregated APIs.
	Dynamic dynamic.Interface
	// Server is where Kube reaches the apiserver, for the first hop's name.
	Server string
}

// Options tune the checks; zero values take the defaults.
type Options struct {
	// Timeout bounds each hop (default 5 s).
	Timeout time.Duration
	// LeaseFreshness is how old a kubelet's heartbeat lease may be (default 40 s, the kubelet's
	// lease duration).
	LeaseFreshness time.Duration
	Now            func() time.Time
}

// Run checks every hop. It stops after the first only when the apiserver itself is unreachable.
func Run(ctx context.Context, c Clients, opts Options) Report {
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.LeaseFreshness == 0 {
		opts.LeaseFreshness = 40 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	d := &doctor{c: c, opts: opts}
	if !d.apiserver(ctx) {
		return d.report
	}
	d.nodes(ctx)
	d.coreDNS(ctx)
	d.webhooks(ctx)
	d.aggregatedAPIs(ctx)
	return d.report
}

type doctor struct {
	c      Clients
	opts   Options
	report Report
}

func (d *doctor) add(from, to string, err error, okDetail string) {
	h := Hop{From: from, To: to, Result: OK, Detail: okDetail}
	if err != nil {
		h.Result, h.Detail = Failed, err.Error()
	}
	d.report.Hops = append(d.report.Hops, h)
}

func (d *doctor) skip(from, to, why string) {
	d.report.Hops = append(d.report.Hops, Hop{From: from, To: to, Result: Skipped, Detail: why})
}

// timed runs check with the hop timeout and returns its error and how long it took.
func (d *doctor) timed(ctx context.Context, check func(context.Context) error) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, d.opts.Timeout)
	defer cancel()
	start := time.Now()
	err := check(ctx)
	return time.Since(start).Round(time.Millisecond), err
}

func (d *doctor) apiserver(ctx context.Context) bool {
	took, err := d.timed(ctx, func(ctx context.Context) error {
		body, err := d.c.Kube.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err == nil && string(body) != "ok" {
			err = fmt.Errorf("/readyz answered %q", body)
		}
		return err
	})
	d.add("you", "apiserver ("+d.c.Server+")", err, fmt.Sprintf("/readyz ok in %s", took))
	return err == nil
}

// nodes checks both directions for every Node: its kubelet's heartbeat lease (kubelet to
// apiserver) and the kubelet's /healthz through the node proxy (apiserver to kubelet).
func (d *doctor) nodes(ctx context.Context) {
	list, err := d.c.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		d.add("apiserver", "Nodes", fmt.Errorf("list Nodes: %w", err), "")
		return
	}
	if len(list.Items) == 0 {
		d.skip("nodes", "apiserver", "the tenant has no Nodes: `taowa join` prints what a node joins with")
		return
	}
	nodes := list.Items
	slices.SortFunc(nodes, func(a, b corev1.Node) int { return strings.Compare(a.Name, b.Name) })
	for _, node := range nodes {
		detail, err := d.heartbeat(ctx, node.Name)
		d.add("node "+node.Name, "apiserver", err, detail)
		address := kubeletAddress(node)
		took, err := d.timed(ctx, func(ctx context.Context) error {
			body, err := proxyGet(ctx, d.c.Kube.CoreV1().RESTClient().Get().Resource("nodes").Name(node.Name).SubResource("proxy").Suffix("healthz"))
			if err != nil {
				return err
			}
			if string(body) != "ok" {
				return fmt.Errorf("/healthz answered %q", body)
			}
			return nil
		})
		d.add("apiserver", fmt.Sprintf("kubelet %s (%s)", node.Name, address), err, fmt.Sprintf("/healthz ok in %s", took))
	}
}

// heartbeat judges the kubelet's way to the apiserver by the age of its heartbeat Lease.
func (d *doctor) heartbeat(ctx context.Context, node string) (string, error) {
	lease, err := d.c.Kube.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("read its heartbeat Lease %s/%s: %w", corev1.NamespaceNodeLease, node, err)
	}
	if lease.Spec.RenewTime == nil {
		return "", fmt.Errorf("its kubelet never renewed its heartbeat Lease")
	}
	age := d.opts.Now().Sub(lease.Spec.RenewTime.Time).Round(time.Second)
	if age > d.opts.LeaseFreshness {
		return "", fmt.Errorf("its kubelet last renewed its heartbeat Lease %s ago (more than %s): the kubelet is down or cannot reach the apiserver", age, d.opts.LeaseFreshness)
	}
	return fmt.Sprintf("heartbeat Lease renewed %s ago", age), nil
}

// coreDNS checks the apiserver reaches the Pod network (each CoreDNS Pod's /ready through the Pod
// proxy) and that the kube-dns Service has ready endpoints.
func (d *doctor) coreDNS(ctx context.Context) {
	pods, err := d.c.Kube.CoreV1().Pods(metav1.NamespaceSystem).List(ctx, metav1.ListOptions{LabelSelector: "k8s-app=kube-dns"})
	if err != nil {
		d.add("apiserver", "CoreDNS Pods", fmt.Errorf("list CoreDNS Pods: %w", err), "")
		return
	}
	if len(pods.Items) == 0 {
		d.skip("apiserver", "Pod network", "no CoreDNS Pod (k8s-app=kube-dns) to reach: the CoreDNS add-on is off or not scheduled")
	}
	for _, pod := range pods.Items {
		to := fmt.Sprintf("Pod %s/%s on %s (%s)", pod.Namespace, pod.Name, pod.Spec.NodeName, net.JoinHostPort(pod.Status.PodIP, "8181"))
		if pod.Status.PodIP == "" {
			d.add("apiserver", to, fmt.Errorf("the Pod has no address (phase %s)", pod.Status.Phase), "")
			continue
		}
		took, err := d.timed(ctx, func(ctx context.Context) error {
			_, err := proxyGet(ctx, d.c.Kube.CoreV1().RESTClient().Get().Namespace(pod.Namespace).Resource("pods").
				Name("http:"+pod.Name+":8181").SubResource("proxy").Suffix("ready"))
			return err
		})
		d.add("apiserver", to, err, fmt.Sprintf("/ready ok in %s", took))
	}

	svc, err := d.c.Kube.CoreV1().Services(metav1.NamespaceSystem).Get(ctx, "kube-dns", metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		d.skip("Pods", "DNS", "no kube-dns Service: the CoreDNS add-on is off")
		return
	}
	if err != nil {
		d.add("Pods", "DNS", fmt.Errorf("read Service kube-system/kube-dns: %w", err), "")
		return
	}
	endpoints, err := d.c.Kube.DiscoveryV1().EndpointSlices(metav1.NamespaceSystem).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=kube-dns"})
	if err != nil {
		d.add("Pods", "DNS", fmt.Errorf("list the EndpointSlices of kube-system/kube-dns: %w", err), "")
		return
	}
	ready := 0
	for _, s := range endpoints.Items {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready == nil || *e.Conditions.Ready {
				ready++
			}
		}
	}
	var none error
	if ready == 0 {
		none = errors.New("the kube-dns Service has no ready endpoint: Pods cannot resolve names")
	}
	d.add("Pods", "DNS ("+svc.Spec.ClusterIP+")", none, fmt.Sprintf("kube-dns has %d ready endpoint(s)", ready))
}

// webhooks checks that the apiserver reaches every admission webhook served by a Service, through
// the Service proxy (the path admission takes: the Service's endpoints): any HTTP answer of the
// webhook server counts, only a proxy error (unreachable, no endpoints) fails.
func (d *doctor) webhooks(ctx context.Context) {
	type target struct {
		kind, config, webhook string
		service               *admissionregistrationv1.ServiceReference
	}
	var targets []target
	validating, err := d.c.Kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().List(ctx, metav1.ListOptions{})
	if err != nil {
		d.add("apiserver", "validating webhooks", fmt.Errorf("list ValidatingWebhookConfigurations: %w", err), "")
	} else {
		for _, c := range validating.Items {
			for _, w := range c.Webhooks {
				targets = append(targets, target{"validating", c.Name, w.Name, w.ClientConfig.Service})
			}
		}
	}
	mutating, err := d.c.Kube.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, metav1.ListOptions{})
	if err != nil {
		d.add("apiserver", "mutating webhooks", fmt.Errorf("list MutatingWebhookConfigurations: %w", err), "")
	} else {
		for _, c := range mutating.Items {
			for _, w := range c.Webhooks {
				targets = append(targets, target{"mutating", c.Name, w.Name, w.ClientConfig.Service})
			}
		}
	}
	for _, t := range targets {
		if t.service == nil {
			continue // a URL webhook: outside the tenant's network
		}
		port := int32(443)
		if t.service.Port != nil {
			port = *t.service.Port
		}
		path := ""
		if t.service.Path != nil {
			path = strings.TrimPrefix(*t.service.Path, "/")
		}
		to := fmt.Sprintf("%s webhook %s (Service %s/%s:%d)", t.kind, t.webhook, t.service.Namespace, t.service.Name, port)
		took, err := d.timed(ctx, func(ctx context.Context) error {
			_, err := proxyGet(ctx, d.c.Kube.CoreV1().RESTClient().Get().Namespace(t.service.Namespace).Resource("services").
				Name("https:"+t.service.Name+":"+strconv.Itoa(int(port))).SubResource("proxy").Suffix(path))
			return err
		})
		d.add("apiserver", to, err, fmt.Sprintf("the webhook server answered in %s", took))
	}
}

var apiServices = schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}

// aggregatedAPIs reports each APIService backed by a Service with the apiserver's own verdict: its
// availability controller probes the Service's endpoints the way requests go.
func (d *doctor) aggregatedAPIs(ctx context.Context) {
	if d.c.Dynamic == nil {
		return
	}
	list, err := d.c.Dynamic.Resource(apiServices).List(ctx, metav1.ListOptions{})
	if err != nil {
		d.add("apiserver", "aggregated APIs", fmt.Errorf("list APIServices: %w", err), "")
		return
	}
	for _, s := range list.Items {
		namespace, backed, _ := unstructured.NestedString(s.Object, "spec", "service", "namespace")
		if !backed {
			continue // served by the apiserver itself
		}
		service, _, _ := unstructured.NestedString(s.Object, "spec", "service", "name")
		to := fmt.Sprintf("aggregated API %s (Service %s/%s)", s.GetName(), namespace, service)
		d.add("apiserver", to, apiServiceAvailable(s), "available")
	}
}

// apiServiceAvailable reads the Available condition the apiserver keeps on an APIService.
func apiServiceAvailable(s unstructured.Unstructured) error {
	conditions, _, _ := unstructured.NestedSlice(s.Object, "status", "conditions")
	for _, c := range conditions {
		cond, _ := c.(map[string]any)
		if cond["type"] != "Available" {
			continue
		}
		if cond["status"] == "True" {
			return nil
		}
		return fmt.Errorf("not available: %v: %v", cond["reason"], cond["message"])
	}
	return errors.New("the apiserver has not judged it yet")
}

// proxyGet GETs through one of the apiserver's proxies and keeps only the proxy's own failures
// (the apiserver could not reach the backend: 502, 503 or 504, "error trying to reach", a dial
// error) and the client's: any other answer came from the backend, so the hop works.
func proxyGet(ctx context.Context, req *rest.Request) (string, error) {
	body, err := req.Do(ctx).Raw()
	if err == nil {
		return string(body), nil
	}
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return "", err
	}
	code, msg := status.Status().Code, strings.TrimSpace(string(body))
	if msg == "" {
		msg = status.Status().Message
	}
	if code != 502 && code != 503 && code != 504 && !strings.Contains(msg, "error trying to reach") && !strings.Contains(msg, "dial tcp") {
		return string(body), nil
	}
	var s metav1.Status
	if json.Unmarshal(body, &s) == nil && s.Message != "" {
		msg = s.Message
	}
	return "", fmt.Errorf("the apiserver could not reach it: %s", msg)
}

// kubeletAddress is where the apiserver dials the kubelet: its InternalIP and kubelet port.
func kubeletAddress(node corev1.Node) string {
	port := strconv.Itoa(int(node.Status.DaemonEndpoints.KubeletEndpoint.Port))
	for _, a := range node.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return net.JoinHostPort(a.Address, port)
		}
	}
	return "no InternalIP"
}
