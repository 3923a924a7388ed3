package pki

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// componentOf maps a Deployment (by name suffix) to its Pods' component label.
var componentOf = map[string]string{
	"apiserver":          "kube-apiserver",
	"controller-manager": "kube-controller-manager",
	"scheduler":          "kube-scheduler",
}

// Restart is a Deployment to restart so that it loads what IssuedAt names: the newest write of a
// certificate or kubeconfig it reads only at start.
type Restart struct {
	Deployment string // full name
	IssuedAt   string // AnnotationIssuedAt of the newest such Secret
}

// StaleDeployments returns the Deployments (by full name) that run a Pod started before a
// certificate or kubeconfig it reads only at start was written (AnnotationIssuedAt): they must
// restart to load it. It follows what runs, not what one run renewed, so a run that renewed and
// died before the restart is made good by the next one. Secrets without the annotation (written
// by an older taowa-hook) and Pods not running yet count as current.
func StaleDeployments(ctx context.Context, client kubernetes.Interface, cfg Config) ([]Restart, error) {
	instance := cfg.Instance
	if instance == "" {
		instance = cfg.Release
	}
	pods, err := client.CoreV1().Pods(cfg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + instance})
	if err != nil {
		return nil, fmt.Errorf("list Pods of %s/%s: %w", cfg.Namespace, instance, err)
	}
	// The earliest start of a running container per component.
	oldest := map[string]time.Time{}
	for _, p := range pods.Items {
		component := p.Labels["app.kubernetes.io/component"]
		if p.DeletionTimestamp != nil {
			continue
		}
		for _, c := range p.Status.ContainerStatuses {
			if r := c.State.Running; r != nil && (oldest[component].IsZero() || r.StartedAt.Time.Before(oldest[component])) {
				oldest[component] = r.StartedAt.Time
			}
		}
	}
	newest := map[string]time.Time{} // Deployment suffix -> newest issue of a Secret it reads at start
	for secret, suffix := range restartOnRenewal {
		if _, running := oldest[componentOf[suffix]]; !running {
			continue
		}
		s, err := client.CoreV1().Secrets(cfg.Namespace).Get(ctx, cfg.SecretName(secret), metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("read secret %s/%s: %w", cfg.Namespace, cfg.SecretName(secret), err)
		}
		issuedAt, err := time.Parse(time.RFC3339Nano, s.Annotations[AnnotationIssuedAt])
		if err != nil {
			continue // written before the annotation existed
		}
		if issuedAt.After(newest[suffix]) {
			newest[suffix] = issuedAt
		}
	}
	var restarts []Restart
	for suffix, issuedAt := range newest {
		// Container start times have a resolution of a second, and a restart for a Secret starts
		// Pods within a second or two of writing it: a Pod that started in the second the Secret
		// was written counts as current, or every such restart would be followed by another.
		if oldest[componentOf[suffix]].Before(issuedAt.Truncate(time.Second)) {
			restarts = append(restarts, Restart{Deployment: cfg.Release + "-" + suffix, IssuedAt: issuedAt.UTC().Format(time.RFC3339Nano)})
		}
	}
	slices.SortFunc(restarts, func(a, b Restart) int { return strings.Compare(a.Deployment, b.Deployment) })
	return restarts, nil
}
