package skew

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/taowa/taowa/postrender"
	"github.com/taowa/taowa/versions"
)

// The skew policy: kube-controller-manager and kube-scheduler are never newer than any
// kube-apiserver. Helm applies every Deployment of a release at once, so each control-plane Pod
// holds itself back in an init container until starting it keeps the policy:
//   - an apiserver starts once an etcd member's container runs (an apiserver that finds no etcd
//     gives up after about 20 s and restarts into the kubelet's back-off, which cost more than
//     etcd's own start when the etcd volume was slow to come; etcd serves within a second of its
//     start, before the apiserver first dials it, so waiting for its readiness probe would only
//     add the probe's period) and no controller-manager or scheduler Pod is newer than it (on a
//     rollback, they go back first);
//   - a controller-manager or scheduler starts once no apiserver Pod is older than it (on an
//     upgrade, the apiservers go first). A terminating apiserver no longer counts: it is out of
//     the Service's endpoints, which is how the controllers reach an apiserver, while it drains
//     its own connections (--shutdown-delay-duration).
// Each side only waits for Pods that are themselves free to go, so the two never wait for each
// other.

const apiserver = string(versions.KubeAPIServer)

// etcd is the component label of the etcd members (the chart's componentLabel).
const etcd = "etcd"

// follower reports whether a component must never be newer than the apiservers.
func follower(component string) bool {
	return component == string(versions.KubeControllerManager) || component == string(versions.KubeScheduler)
}

// OrderBlocker returns the first Pod that makes starting component at version break the skew
// policy, and why; ok is true when there is none.
func OrderBlocker(pods []corev1.Pod, component string, version versions.Version) (reason string, ok bool) {
	if component == apiserver && !slices.ContainsFunc(pods, etcdRunning) {
		return "no etcd member runs yet", false
	}
	for _, p := range pods {
		other := p.Labels[postrender.LabelComponent]
		s, found := p.Annotations[postrender.AnnotationKubernetesVersion]
		if other == "" || !found {
			continue
		}
		v, err := versions.Parse(s)
		if err != nil {
			return fmt.Sprintf("Pod %s: annotation %s: %v", p.Name, postrender.AnnotationKubernetesVersion, err), false
		}
		switch {
		case component == apiserver && follower(other) && v.Compare(version) > 0:
			return fmt.Sprintf("%s Pod %s runs %s, newer than this apiserver's %s", other, p.Name, v, version), false
		case follower(component) && other == apiserver && v.Compare(version) < 0 && p.DeletionTimestamp == nil:
			return fmt.Sprintf("kube-apiserver Pod %s runs %s, older than this %s's %s", p.Name, v, component, version), false
		}
	}
	return "", true
}

func etcdRunning(p corev1.Pod) bool {
	if p.Labels[postrender.LabelComponent] != etcd || p.DeletionTimestamp != nil {
		return false
	}
	return slices.ContainsFunc(p.Status.ContainerStatuses, func(c corev1.ContainerStatus) bool {
		return c.Name == etcd && c.State.Running != nil
	})
}

// WaitOrder polls the release's Pods until OrderBlocker finds nothing and, for an apiserver, one of
// etcdServers (the client URLs it will dial) accepts a connection, logging each new reason.
func WaitOrder(ctx context.Context, meta kubernetes.Interface, namespace, instance, component string, version versions.Version, etcdServers []string, log func(string)) error {
	var etcdAddresses []string
	for _, s := range etcdServers {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return fmt.Errorf("etcd server %q is not a URL with a host", s)
		}
		etcdAddresses = append(etcdAddresses, u.Host)
	}
	if component == apiserver && len(etcdAddresses) == 0 {
		return errors.New("an apiserver waits for its etcd servers: none given")
	}
	selector := "app.kubernetes.io/instance=" + instance + "," + postrender.LabelComponent
	last := ""
	// Every second a control-plane Pod waits here is a second of install or upgrade.
	return wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		pods, err := meta.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			log(fmt.Sprintf("list Pods: %v", err))
			return false, nil
		}
		reason, ok := OrderBlocker(pods.Items, component, version)
		if ok && component == apiserver {
			if err := reachable(ctx, etcdAddresses); err != nil {
				reason, ok = "etcd not reachable: "+err.Error(), false
			}
		}
		if !ok && reason != last {
			log("waiting: " + reason)
			last = reason
		}
		return ok, nil
	})
}

// reachable returns nil once one of the addresses accepts a TCP connection from this Pod. An
// apiserver that starts before then fails its first dials to etcd: a member's name can still
// resolve to the address of the member's previous Pod (cluster DNS caches answers for up to 30 s,
// which a woken tenant meets), and a Service's address that kube-proxy does not route yet can
// hold a dial until grpc's 20 s timeout.
func reachable(ctx context.Context, addresses []string) error {
	var errs []error
	for _, a := range addresses {
		d := net.Dialer{Timeout: time.Second}
		conn, err := d.DialContext(ctx, "tcp", a)
		if err == nil {
			return conn.Close()
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
