package tenants

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// SnapshotHealth is how the scheduled etcd snapshots fare (the chart's CronJob
// <release>-etcd-snapshot): when one last succeeded, and whether the newest that finished failed.
type SnapshotHealth struct {
	// LastSuccess is when a scheduled snapshot last succeeded (stored too, with an object
	// store); nil when none has yet.
	LastSuccess *time.Time `json:"lastSuccess,omitempty"`
	// Failed: the newest scheduled snapshot Job that finished failed; Job and Message say which
	// and why.
	Failed  bool   `json:"failed"`
	Job     string `json:"job,omitempty"`
	Message string `json:"message,omitempty"`
}

// snapshotHealth reads the CronJob of release's scheduled snapshots and its Jobs; nil when the
// release has none (schedule off).
func snapshotHealth(ctx context.Context, client kubernetes.Interface, namespace, release string) (*SnapshotHealth, error) {
	name := objectName(release, "etcd-snapshot")
	cron, err := client.BatchV1().CronJobs(namespace).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("CronJob %s: %w", name, err)
	}
	h := &SnapshotHealth{}
	if t := cron.Status.LastSuccessfulTime; t != nil {
		h.LastSuccess = &t.Time
	}
	jobs, err := client.BatchV1().Jobs(namespace).List(ctx, metav1.ListOptions{
		LabelSelector: fmt.Sprintf("%s=%s,%s=etcd-snapshot", labelInstance, release, labelComponent)})
	if err != nil {
		return nil, fmt.Errorf("list Jobs: %w", err)
	}
	// The CronJob's Jobs: its own and those made from it by hand (kubectl create job --from),
	// which it owns too.
	var finished []batchv1.Job
	for _, j := range jobs.Items {
		owned := slices.ContainsFunc(j.OwnerReferences, func(o metav1.OwnerReference) bool { return o.UID == cron.UID })
		if owned && finishedAt(j) != nil {
			finished = append(finished, j)
		}
	}
	if len(finished) == 0 {
		return h, nil
	}
	newest := slices.MaxFunc(finished, func(a, b batchv1.Job) int { return finishedAt(a).Compare(finishedAt(b).Time) })
	if cond := jobCondition(newest, batchv1.JobFailed); cond != nil {
		h.Failed, h.Job = true, newest.Name
		h.Message = fmt.Sprintf("Job %s failed at %s (%s)%s", newest.Name, cond.LastTransitionTime.UTC().Format(time.RFC3339), cond.Reason,
			lastWords(ctx, client, namespace, newest.Name))
	}
	return h, nil
}

func finishedAt(j batchv1.Job) *metav1.Time {
	for _, t := range []batchv1.JobConditionType{batchv1.JobComplete, batchv1.JobFailed} {
		if c := jobCondition(j, t); c != nil {
			return &c.LastTransitionTime
		}
	}
	return nil
}

func jobCondition(j batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i, c := range j.Status.Conditions {
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return &j.Status.Conditions[i]
		}
	}
	return nil
}

// lastWords is ": <message>" of the Job's newest failed Pod (its termination message: the
// hook's error), or "".
func lastWords(ctx context.Context, client kubernetes.Interface, namespace, job string) string {
	pods, err := client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=" + job})
	if err != nil {
		return ""
	}
	var newest *corev1.ContainerStateTerminated
	for _, p := range pods.Items {
		for _, s := range p.Status.ContainerStatuses {
			if t := s.State.Terminated; t != nil && t.ExitCode != 0 && (newest == nil || t.FinishedAt.After(newest.FinishedAt.Time)) {
				newest = t
			}
		}
	}
	if newest == nil || strings.TrimSpace(newest.Message) == "" {
		return ""
	}
	return ": " + strings.TrimSpace(newest.Message)
}
