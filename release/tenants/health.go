package tenants

import (
	"cmp"
	"context"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	certutil "k8s.io/client-go/util/cert"

	"github.com/taowa/taowa/hooks/pki"
)

// Health is what is wrong with a tenant master's components, as the meta cluster's objects tell:
// its workloads, their Pods' statuses and its PKI Secrets. The JSON names are the CLI's `-o json`
// contract.
type Health struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	// Healthy: every component is healthy and no certificate has expired.
	Healthy bool `json:"healthy"`
	// Components are the ControlPlaneComponents, always, in their order.
	Components []ComponentHealth `json:"components"`
	// Etcd is each running member's database size, quota and alarms.
	Etcd []EtcdMember `json:"etcd,omitempty"`
	// Certificates is nil when the release has no PKI Secrets (yet, or no more).
	Certificates *CertificateHealth `json:"certificates,omitempty"`
	// Snapshots is nil when the release takes no scheduled snapshots. A failed one does not make
	// the tenant unhealthy: it serves as before.
	Snapshots *SnapshotHealth `json:"snapshots,omitempty"`
}

// Stopping counts the Pods of all components on their way out.
func (h Health) Stopping() int32 {
	var n int32
	for _, c := range h.Components {
		n += c.Stopping
	}
	return n
}

// Component health reasons. A Pod's own waiting reason (CreateContainerConfigError,
// InvalidImageName, ...) is reported as it is; ErrImagePull is ImagePullBackOff.
const (
	ReasonHealthy                  = "Healthy"
	ReasonHibernated               = "Hibernated"
	ReasonMissing                  = "Missing"                  // no workload
	ReasonCrashLoopBackOff         = "CrashLoopBackOff"         // also a container that exited with an error, until Ready again
	ReasonImagePullBackOff         = "ImagePullBackOff"         // also ErrImagePull
	ReasonUnschedulable            = "Unschedulable"            // the scheduler's PodScheduled condition
	ReasonPending                  = "Pending"                  // not scheduled yet
	ReasonPodInitializing          = "PodInitializing"          // an init container has not finished
	ReasonContainerCreating        = "ContainerCreating"        // the kubelet is pulling or creating
	ReasonNotReady                 = "NotReady"                 // running, readiness probe failing
	ReasonPodsMissing              = "PodsMissing"              // fewer Pods than desired, all of them Ready
	ReasonProgressDeadlineExceeded = "ProgressDeadlineExceeded" // a Deployment's rollout stalled
)

// ComponentHealth is the health of one component's workload and its current Pods (those neither
// terminating nor terminated).
type ComponentHealth struct {
	Component string `json:"component"`
	// Healthy: as many Pods Ready as desired, and none crash-looping, failing to pull its image
	// (or otherwise failing to start its containers) or unschedulable, even while an old Pod still
	// serves; or the component is scaled to zero (Reason Hibernated).
	Healthy bool  `json:"healthy"`
	Desired int32 `json:"desired"`
	Ready   int32 `json:"ready"`
	// Restarts sums the restarts of the current Pods' containers and init containers.
	Restarts int32 `json:"restarts"`
	// Reason is one CamelCase word: the Reason* constants, or a kubelet's waiting reason.
	// The worst problem names it: a container failing to run before an unschedulable Pod before
	// a Pod not Ready; the newest Pod first, as it is the one a rollout waits for.
	Reason string `json:"reason"`
	// Message names the Pod and the container and says what is wrong, "" when healthy.
	Message string `json:"message,omitempty"`
	// Stopping counts the Pods on their way out (terminating): after a scale to zero the
	// component sleeps only once it is 0.
	Stopping int32 `json:"stopping,omitempty"`
}

// CertificateHealth is the certificate of the release's PKI Secrets that expires first.
type CertificateHealth struct {
	// Secret and Key hold it: a PEM bundle (tls.crt, ca.crt, ...) or a kubeconfig (its user's
	// client-certificate-data).
	Secret string `json:"secret"`
	Key    string `json:"key"`
	// Subject is its common name.
	Subject  string    `json:"subject"`
	NotAfter time.Time `json:"notAfter"`
	// Count is how many certificates were read.
	Count int `json:"count"`
	// Unreadable names what held no parsable certificate; it is left out of the rest.
	Unreadable []string `json:"unreadable,omitempty"`
}

// Expired says whether the earliest certificate has expired at now.
func (c *CertificateHealth) Expired(now time.Time) bool {
	return c != nil && !c.NotAfter.IsZero() && !now.Before(c.NotAfter)
}

// Health returns the health of tenant master name, which must be a release of the chart.
func (m *Manager) Health(ctx context.Context, namespace, name string) (Health, error) {
	if _, err := m.latest(namespace, name); err != nil {
		return Health{}, fmt.Errorf("health of %s in namespace %s: %w", name, namespace, err)
	}
	client, err := m.cluster.Clientset()
	if err != nil {
		return Health{}, err
	}
	return TenantHealth(ctx, client, namespace, name)
}

// workloads are the workloads of the ControlPlaneComponents, by the part of their name after the
// release's full name (the chart's templates).
var workloads = []struct{ component, kind, part string }{
	{"etcd", "StatefulSet", "etcd"},
	{"kube-apiserver", "Deployment", "apiserver"},
	{"kube-controller-manager", "Deployment", "controller-manager"},
	{"kube-scheduler", "Deployment", "scheduler"},
}

// objectName is what the chart names part of release: "<fullname>-<part>", where its fullname
// helper is the release name, as for the PKI Secrets (pki.Config.SecretName).
func objectName(release, part string) string { return pki.Config{Release: release}.SecretName(part) }

// TenantHealth reads the health of tenant master release in namespace from the meta cluster: its
// StatefulSet and Deployments, their Pods, its etcd members' metrics, its PKI Secrets and its
// scheduled snapshots' CronJob and Jobs. It
// needs get on statefulsets, deployments, cronjobs and pods/proxy and list on pods, jobs and
// secrets there.
func TenantHealth(ctx context.Context, client kubernetes.Interface, namespace, release string) (Health, error) {
	h, err := healthOf(ctx, client, namespace, release, time.Now())
	if err != nil {
		return Health{}, fmt.Errorf("health of %s in namespace %s: %w", release, namespace, err)
	}
	return h, nil
}

func healthOf(ctx context.Context, client kubernetes.Interface, namespace, release string, now time.Time) (Health, error) {
	pods, err := client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{
		LabelSelector: fmt.Sprintf("%s=%s,%s=%s", labelName, ChartName, labelInstance, release)})
	if err != nil {
		return Health{}, fmt.Errorf("list Pods: %w", err)
	}
	byComponent := map[string][]*corev1.Pod{}
	stopping := map[string]int32{}
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp != nil {
			// On its way out: its replacement is what counts. Its containers may have stopped
			// (a terminal phase) before the object goes.
			stopping[p.Labels[labelComponent]]++
			continue
		}
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		byComponent[p.Labels[labelComponent]] = append(byComponent[p.Labels[labelComponent]], p)
	}
	h := Health{Name: release, Namespace: namespace, Healthy: true}
	for _, w := range workloads {
		c, err := componentHealth(ctx, client, namespace, objectName(release, w.part), w.kind, byComponent[w.component])
		if err != nil {
			return Health{}, err
		}
		c.Component, c.Stopping = w.component, stopping[w.component]
		if w.component == "etcd" {
			h.Etcd = etcdMembers(ctx, client, namespace, byComponent[w.component])
			judgeEtcd(&c, h.Etcd)
		}
		h.Healthy = h.Healthy && c.Healthy
		h.Components = append(h.Components, c)
	}
	if h.Certificates, err = certificateHealth(ctx, client, namespace, release); err != nil {
		return Health{}, err
	}
	if h.Snapshots, err = snapshotHealth(ctx, client, namespace, release); err != nil {
		return Health{}, err
	}
	if h.Certificates.Expired(now) {
		h.Healthy = false
	}
	return h, nil
}

// componentHealth judges one workload (kind StatefulSet or Deployment) by its current Pods.
func componentHealth(ctx context.Context, client kubernetes.Interface, namespace, name, kind string, pods []*corev1.Pod) (ComponentHealth, error) {
	var replicas *int32
	var stalled *appsv1.DeploymentCondition
	var err error
	if kind == "StatefulSet" {
		var s *appsv1.StatefulSet
		if s, err = client.AppsV1().StatefulSets(namespace).Get(ctx, name, metav1.GetOptions{}); err == nil {
			replicas = s.Spec.Replicas
		}
	} else {
		var d *appsv1.Deployment
		if d, err = client.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{}); err == nil {
			replicas = d.Spec.Replicas
			for i, c := range d.Status.Conditions {
				if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
					stalled = &d.Status.Conditions[i]
				}
			}
		}
	}
	if apierrors.IsNotFound(err) {
		return ComponentHealth{Reason: ReasonMissing, Message: fmt.Sprintf("%s %s not found", kind, name)}, nil
	}
	if err != nil {
		return ComponentHealth{}, fmt.Errorf("get %s %s: %w", kind, name, err)
	}
	c := ComponentHealth{Desired: 1} // the API's default for an unset spec.replicas
	if replicas != nil {
		c.Desired = *replicas
	}
	// Newest first: in a rollout the new Pod's trouble is the news, the old one still serving.
	slices.SortStableFunc(pods, func(a, b *corev1.Pod) int {
		return cmp.Or(b.CreationTimestamp.Compare(a.CreationTimestamp.Time), strings.Compare(a.Name, b.Name))
	})
	var worst problem
	for _, p := range pods {
		if podReady(p) {
			c.Ready++
		}
		for _, s := range slices.Concat(p.Status.InitContainerStatuses, p.Status.ContainerStatuses) {
			c.Restarts += s.RestartCount
		}
		if pr := problemOf(p); pr.rank > worst.rank {
			worst = pr
		}
	}
	switch {
	case c.Desired == 0:
		// Scaled to zero on purpose (hibernation); Pods still around are on their way out.
		c.Healthy, c.Reason = true, ReasonHibernated
	case worst.rank >= rankUnschedulable:
		c.Reason, c.Message = worst.reason, worst.message
	case c.Ready < c.Desired && worst.rank > 0:
		c.Reason, c.Message = worst.reason, worst.message
	case c.Ready < c.Desired:
		c.Reason = ReasonPodsMissing
		c.Message = fmt.Sprintf("%d of %d Pods exist, all Ready: %s %s cannot create the others", len(pods), c.Desired, kind, name)
	case stalled != nil:
		c.Reason, c.Message = ReasonProgressDeadlineExceeded, fmt.Sprintf("%s %s: %s", kind, name, stalled.Message)
		if worst.rank > 0 {
			c.Message += "; " + worst.message
		}
	default:
		c.Healthy, c.Reason = true, ReasonHealthy
	}
	return c, nil
}

// Ranks of a Pod's problems: a container that cannot run is worse than a Pod that cannot be
// placed, which is worse than one on its way to Ready.
const (
	rankNotReady = 1 + iota
	rankUnschedulable
	rankFailing
)

type problem struct {
	rank            int
	reason, message string
}

// startingReasons are the waiting reasons of a container on its normal way to running.
var startingReasons = []string{"", ReasonContainerCreating, ReasonPodInitializing}

// problemOf is the worst problem of Pod p; rank 0 when it has none. A Pod not Ready always has one.
func problemOf(p *corev1.Pod) problem {
	at := "pod " + p.Name
	statuses := []struct {
		what     string
		statuses []corev1.ContainerStatus
	}{{"init container", p.Status.InitContainerStatuses}, {"container", p.Status.ContainerStatuses}}
	for _, group := range statuses {
		for _, s := range group.statuses {
			if pr, ok := failing(at, group.what, s); ok {
				return pr
			}
		}
	}
	for _, cs := range p.Status.Conditions {
		if cs.Type == corev1.PodScheduled && cs.Status == corev1.ConditionFalse && cs.Reason == corev1.PodReasonUnschedulable {
			return problem{rankUnschedulable, ReasonUnschedulable, fmt.Sprintf("%s unschedulable: %s", at, cs.Message)}
		}
	}
	if podReady(p) {
		return problem{}
	}
	if p.Spec.NodeName == "" {
		return problem{rankNotReady, ReasonPending, at + ": not scheduled yet"}
	}
	for _, s := range p.Status.InitContainerStatuses {
		if s.State.Terminated == nil && !(s.Started != nil && *s.Started && isSidecar(p, s.Name)) {
			return problem{rankNotReady, ReasonPodInitializing, fmt.Sprintf("%s: init container %s has not finished%s", at, s.Name, lastExit(s))}
		}
	}
	for _, s := range p.Status.ContainerStatuses {
		switch {
		case s.State.Waiting != nil:
			reason := cmp.Or(s.State.Waiting.Reason, ReasonContainerCreating)
			return problem{rankNotReady, reason, fmt.Sprintf("%s: container %s waiting (%s)%s", at, s.Name, reason, suffix(s.State.Waiting.Message))}
		case s.State.Terminated != nil: // exited 0, to be restarted
			return problem{rankNotReady, ReasonNotReady, fmt.Sprintf("%s: container %s exited (%s)%s", at, s.Name, s.State.Terminated.Reason, lastExit(s))}
		case !s.Ready:
			return problem{rankNotReady, ReasonNotReady, fmt.Sprintf("%s: container %s running but not ready%s", at, s.Name, lastExit(s))}
		}
	}
	if len(p.Status.ContainerStatuses) == 0 {
		return problem{rankNotReady, ReasonContainerCreating, at + ": no container started yet"}
	}
	// Every container is ready but the Pod is not: its node stopped reporting, or a readiness gate.
	msg := at + " not ready"
	for _, cs := range p.Status.Conditions {
		if cs.Type == corev1.PodReady {
			msg += suffix(strings.TrimSpace(cs.Reason + " " + cs.Message))
		}
	}
	return problem{rankNotReady, ReasonNotReady, msg}
}

// failing reports a container that cannot run: waiting for another reason than starting up
// (CrashLoopBackOff, ImagePullBackOff, CreateContainerConfigError, ...), just exited with an
// error (between its crash and the back-off), or running again after an error and not Ready yet
// (between the back-off and its next crash: the kubelet says Running there, for a moment or, for
// a slow crash, for most of the loop).
func failing(at, what string, s corev1.ContainerStatus) (problem, bool) {
	if w := s.State.Waiting; w != nil && !slices.Contains(startingReasons, w.Reason) {
		switch w.Reason {
		case ReasonCrashLoopBackOff:
			return problem{rankFailing, w.Reason, fmt.Sprintf("%s: %s %s crash-looping, %d restarts%s", at, what, s.Name, s.RestartCount,
				terminated(s.LastTerminationState.Terminated))}, true
		case "ErrImagePull", ReasonImagePullBackOff:
			image := cmp.Or(s.Image, "its image")
			return problem{rankFailing, ReasonImagePullBackOff, fmt.Sprintf("%s: %s %s cannot pull %s (%s)%s", at, what, s.Name, image, w.Reason,
				suffix(w.Message))}, true
		}
		return problem{rankFailing, w.Reason, fmt.Sprintf("%s: %s %s waiting (%s)%s", at, what, s.Name, w.Reason, suffix(w.Message))}, true
	}
	if t := s.State.Terminated; t != nil && t.ExitCode != 0 {
		return problem{rankFailing, ReasonCrashLoopBackOff, fmt.Sprintf("%s: %s %s exited, %d restarts%s", at, what, s.Name, s.RestartCount, terminated(t))}, true
	}
	if last := s.LastTerminationState.Terminated; s.State.Running != nil && !s.Ready && last != nil && last.ExitCode != 0 {
		return problem{rankFailing, ReasonCrashLoopBackOff, fmt.Sprintf("%s: %s %s restarted, not ready, %d restarts%s", at, what, s.Name, s.RestartCount, terminated(last))}, true
	}
	return problem{}, false
}

// lastExit tells how a restarted container last ended, "" when it never restarted.
func lastExit(s corev1.ContainerStatus) string {
	if s.RestartCount == 0 {
		return ""
	}
	return fmt.Sprintf(", %d restarts%s", s.RestartCount, terminated(s.LastTerminationState.Terminated))
}

// terminated is ", last exit 1 (Error): <termination message>", or "" without a termination.
func terminated(t *corev1.ContainerStateTerminated) string {
	if t == nil {
		return ""
	}
	return fmt.Sprintf(", last exit %d (%s)%s", t.ExitCode, t.Reason, suffix(t.Message))
}

// maxMessage bounds a kubelet's or container's message, which may carry a whole log tail.
const maxMessage = 200

// suffix is ": " and message on one line, trimmed to maxMessage characters; "" for none.
func suffix(message string) string {
	message = strings.Join(strings.Fields(message), " ")
	if message == "" {
		return ""
	}
	if utf8.RuneCountInString(message) > maxMessage {
		message = string([]rune(message)[:maxMessage-1]) + "…"
	}
	return ": " + message
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// isSidecar: init container name of p keeps running beside the containers (restartPolicy Always).
func isSidecar(p *corev1.Pod, name string) bool {
	for _, c := range p.Spec.InitContainers {
		if c.Name == name {
			return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		}
	}
	return false
}

// certificateHealth finds the earliest expiry among the certificates of the release's PKI
// Secrets: every PEM bundle under a *.crt key (tls.crt, ca.crt, a rotation's next.crt) and the
// client certificate of every kubeconfig. The kubeconfigs' certificate-authority-data is left
// out: it is the CA Secrets' ca.crt, which names the CA better.
func certificateHealth(ctx context.Context, client kubernetes.Interface, namespace, release string) (*CertificateHealth, error) {
	secrets, err := client.CoreV1().Secrets(namespace).List(ctx, metav1.ListOptions{LabelSelector: pki.LabelRelease + "=" + release})
	if err != nil {
		return nil, fmt.Errorf("list PKI Secrets: %w", err)
	}
	if len(secrets.Items) == 0 {
		return nil, nil
	}
	slices.SortFunc(secrets.Items, func(a, b corev1.Secret) int { return strings.Compare(a.Name, b.Name) })
	h := &CertificateHealth{}
	consider := func(secret, key string, certs []*x509.Certificate) {
		for _, c := range certs {
			h.Count++
			if h.Count == 1 || c.NotAfter.Before(h.NotAfter) {
				h.Secret, h.Key, h.Subject, h.NotAfter = secret, key, c.Subject.CommonName, c.NotAfter
			}
		}
	}
	for _, s := range secrets.Items {
		keys := make([]string, 0, len(s.Data))
		for k := range s.Data {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, key := range keys {
			switch {
			case key == pki.KeyKubeconfig:
				config, err := clientcmd.Load(s.Data[key])
				if err != nil {
					h.Unreadable = append(h.Unreadable, fmt.Sprintf("%s %s: %v", s.Name, key, err))
					continue
				}
				users := make([]string, 0, len(config.AuthInfos))
				for u := range config.AuthInfos {
					users = append(users, u)
				}
				slices.Sort(users)
				for _, u := range users {
					data := config.AuthInfos[u].ClientCertificateData
					if len(data) == 0 {
						continue // a token or an exec plugin: nothing expires here
					}
					certs, err := certutil.ParseCertsPEM(data)
					if err != nil {
						h.Unreadable = append(h.Unreadable, fmt.Sprintf("%s %s (user %s): %v", s.Name, key, u, err))
						continue
					}
					consider(s.Name, key, certs)
				}
			case strings.HasSuffix(key, ".crt"):
				certs, err := certutil.ParseCertsPEM(s.Data[key])
				if err != nil {
					h.Unreadable = append(h.Unreadable, fmt.Sprintf("%s %s: %v", s.Name, key, err))
					continue
				}
				consider(s.Name, key, certs)
			}
		}
	}
	return h, nil
}
