package tenants

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
)

var snapshotsStart = time.Date(2026, 12, 2, 6, 17, 0, 0, time.UTC)

// snapshotCronJob is tenant-a's CronJob of scheduled snapshots, last successful at lastSuccess.
func snapshotCronJob(lastSuccess *time.Time) *batchv1.CronJob {
	cron := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "tenant-a-etcd-snapshot", Namespace: "t", UID: types.UID("cron-uid")}}
	if lastSuccess != nil {
		cron.Status.LastSuccessfulTime = &metav1.Time{Time: *lastSuccess}
	}
	return cron
}

// snapshotJob is a finished Job of tenant-a's snapshots (complete or failed at the given time),
// owned by the CronJob when owned.
func snapshotJob(name string, owned bool, failed bool, at time.Time) *batchv1.Job {
	j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "t", Labels: map[string]string{
		labelInstance: "tenant-a", labelComponent: "etcd-snapshot"}}}
	if owned {
		j.OwnerReferences = []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "CronJob", Name: "tenant-a-etcd-snapshot", UID: "cron-uid"}}
	}
	cond := batchv1.JobCondition{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Time{Time: at}}
	if failed {
		cond.Type, cond.Reason = batchv1.JobFailed, "BackoffLimitExceeded"
	}
	j.Status.Conditions = []batchv1.JobCondition{cond}
	return j
}

// failedPod is a Pod of job whose container exited 1 with message.
func failedPod(job, message string, at time.Time) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: job + "-x", Namespace: "t", Labels: map[string]string{batchv1.JobNameLabel: job}},
		Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "etcd-snapshot", State: corev1.ContainerState{
			Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Message: message + "\n", FinishedAt: metav1.Time{Time: at}}}}}}}
}

func TestSnapshotHealth(t *testing.T) {
	success := snapshotsStart
	for _, tc := range []struct {
		name    string
		objects []runtime.Object
		want    *SnapshotHealth
	}{
		{"no schedule", nil, nil},
		{"none finished yet", []runtime.Object{snapshotCronJob(nil)}, &SnapshotHealth{}},
		{"the newest failed, an older one succeeded", []runtime.Object{
			snapshotCronJob(&success),
			snapshotJob("ok", true, false, success),
			snapshotJob("broken", true, true, success.Add(6*time.Hour)),
			failedPod("broken", "taowa-hook etcd-snapshot: object store http://s3:7070 unreachable", success.Add(6*time.Hour)),
		}, &SnapshotHealth{LastSuccess: &success, Failed: true, Job: "broken",
			Message: "Job broken failed at 2026-12-02T12:17:00Z (BackoffLimitExceeded): taowa-hook etcd-snapshot: object store http://s3:7070 unreachable"}},
		{"a failure, then a success", []runtime.Object{
			snapshotCronJob(&success),
			snapshotJob("broken", true, true, success.Add(-6*time.Hour)),
			snapshotJob("ok", true, false, success),
		}, &SnapshotHealth{LastSuccess: &success}},
		// A pre-upgrade hook Job carries the same labels; its failure (a refused upgrade) is the
		// upgrade's news, not the schedule's.
		{"a failed Job the CronJob does not own", []runtime.Object{
			snapshotCronJob(&success),
			snapshotJob("ok", true, false, success),
			snapshotJob("pre-upgrade", false, true, success.Add(time.Hour)),
		}, &SnapshotHealth{LastSuccess: &success}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := snapshotHealth(context.Background(), fake.NewClientset(tc.objects...), "t", "tenant-a")
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}
