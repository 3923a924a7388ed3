package tenants

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/release"
	helmtime "helm.sh/helm/v3/pkg/time"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestTimelineAccountsForHooksVolumesAndPods(t *testing.T) {
	start := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return start.Add(time.Duration(s * float64(time.Second))) }
	mt := func(s float64) metav1.Time { return metav1.NewTime(at(s)) }
	labels := map[string]string{"app.kubernetes.io/instance": "tenant-a", "app.kubernetes.io/component": "etcd"}

	rel := &release.Release{Name: "tenant-a", Namespace: "t", Version: 2,
		Info: &release.Info{Status: release.StatusDeployed, LastDeployed: helmtime.Time{Time: start}},
		Hooks: []*release.Hook{
			{Name: "tenant-a-pki", Kind: "Job", Events: []release.HookEvent{release.HookPreInstall, release.HookPreUpgrade},
				LastRun: release.HookExecution{StartedAt: helmtime.Time{Time: at(0.2)}, CompletedAt: helmtime.Time{Time: at(3.1)}, Phase: release.HookPhaseSucceeded}},
			{Name: "tenant-a-ready", Kind: "Job", Events: []release.HookEvent{release.HookPostInstall},
				LastRun: release.HookExecution{StartedAt: helmtime.Time{Time: at(9)}, CompletedAt: helmtime.Time{Time: at(12.5)}, Phase: release.HookPhaseSucceeded}},
			{Name: "tenant-a-pki", Kind: "Role", LastRun: release.HookExecution{StartedAt: helmtime.Time{Time: at(0.1)}}},
			{Name: "tenant-a-skew-check", Kind: "Job"}, // did not run in this revision
		},
	}
	client := fake.NewClientset(
		&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data-tenant-a-etcd-0", Namespace: "t", Labels: labels, CreationTimestamp: mt(3.2)},
			Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv-1"}},
		&corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-1", CreationTimestamp: mt(4)}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "tenant-a-etcd-0", Namespace: "t", Labels: labels, CreationTimestamp: mt(3.2)},
			Status: corev1.PodStatus{
				Conditions: []corev1.PodCondition{
					{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: mt(4)},
					{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: mt(4)},
					{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: mt(7)},
				},
				ContainerStatuses: []corev1.ContainerStatus{{Name: "etcd", RestartCount: 1,
					State:                corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: mt(6)}},
					LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error", FinishedAt: mt(5)}},
				}},
			}},
		// A Pod of an earlier revision is not part of this one's timeline.
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "tenant-a-old", Namespace: "t", Labels: labels, CreationTimestamp: mt(-60)}},
	)

	tl, err := timelineOf(context.Background(), client, rel)
	require.NoError(t, err)
	var got []string
	for _, s := range tl.Spans {
		got = append(got, s.What)
	}
	assert.Equal(t, []string{
		"hook tenant-a-pki (pre-install,pre-upgrade)",
		"volume data-tenant-a-etcd-0: provisioning",
		"pod tenant-a-etcd-0: scheduling",
		"pod tenant-a-etcd-0: init containers",
		"pod tenant-a-etcd-0: starting containers",
		"pod tenant-a-etcd-0: becoming Ready",
		"hook tenant-a-ready (post-install)",
	}, got)
	assert.InDelta(t, 2.9, tl.Spans[0].Seconds(), 0.001)
	assert.InDelta(t, 2.0, tl.Spans[4].Seconds(), 0.001, "initialized at 4 s, container started at 6 s")
	assert.Equal(t, "etcd restarted 1 times, last exit 1 (Error) at 2026-12-01T12:00:05Z", tl.Spans[5].Note)
	assert.Equal(t, at(12.5), tl.End())
}
