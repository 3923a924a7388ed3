package tenants

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/chartutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func TestVolumeListPodReadsTheVolumeAsTheHooksDo(t *testing.T) {
	values := chartutil.Values{
		"imagePullPolicy":  "Never",
		"imagePullSecrets": []any{map[string]any{"name": "mirror"}},
		"hook": map[string]any{
			"image":     map[string]any{"repository": "registry.example/taowa-hook", "tag": ""},
			"resources": map[string]any{"limits": map[string]any{"memory": "128Mi"}},
		},
	}
	pod, err := volumeListPod("tenant-a", "tenant-a-etcd-snapshots", values, "0.1.0", true)
	require.NoError(t, err)
	c := pod.Spec.Containers[0]
	assert.Equal(t, "registry.example/taowa-hook:0.1.0", c.Image, "the chart's version tags the hook image by default")
	assert.Equal(t, corev1.PullNever, c.ImagePullPolicy)
	assert.Equal(t, []corev1.LocalObjectReference{{Name: "mirror"}}, pod.Spec.ImagePullSecrets)
	assert.Equal(t, "128Mi", c.Resources.Limits.Memory().String())
	assert.Equal(t, []string{"etcd-snapshot-list", "--dir=/snapshots", "--verify"}, c.Args)
	assert.Equal(t, []corev1.VolumeMount{{Name: "snapshots", MountPath: "/snapshots", ReadOnly: true}}, c.VolumeMounts, "listing never writes")
	assert.True(t, pod.Spec.Volumes[0].PersistentVolumeClaim.ReadOnly)
	assert.Equal(t, int64(65532), *pod.Spec.SecurityContext.RunAsUser, "the snapshot Jobs' user: the files are readable by their owner only")

	values["hook"].(map[string]any)["image"].(map[string]any)["tag"] = "dev"
	pod, err = volumeListPod("tenant-a", "tenant-a-etcd-snapshots", values, "0.1.0", false)
	require.NoError(t, err)
	assert.Equal(t, "registry.example/taowa-hook:dev", pod.Spec.Containers[0].Image)
	assert.NotContains(t, pod.Spec.Containers[0].Args, "--verify")
}

func TestVolumeSnapshotsWithoutAVolume(t *testing.T) {
	client := k8sfake.NewClientset()
	files, found, err := volumeSnapshots(context.Background(), client, "ns-a", "tenant-a", chartutil.Values{}, "0.1.0", false)
	require.NoError(t, err)
	assert.False(t, found)
	assert.Empty(t, files)
	pods, err := client.CoreV1().Pods("ns-a").List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, pods.Items, "no Pod without a volume to list")
}

func TestVolumeSnapshotsFailedPodSaysWhyAndGoes(t *testing.T) {
	client := k8sfake.NewClientset(&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "tenant-a-etcd-snapshots", Namespace: "ns-a"}})
	// The listing Pod fails at once, as one whose volume holds no directory would.
	client.PrependReactor("create", "pods", func(action k8stesting.Action) (bool, runtime.Object, error) {
		pod := action.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		pod.Name = pod.GenerateName + "x"
		pod.Status.Phase = corev1.PodFailed
		pod.Status.ContainerStatuses = []corev1.ContainerStatus{{State: corev1.ContainerState{
			Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Message: "list snapshots in /snapshots: permission denied\n"}}}}
		return false, pod, nil
	})
	_, found, err := volumeSnapshots(context.Background(), client, "ns-a", "tenant-a", chartutil.Values{}, "0.1.0", false)
	assert.True(t, found)
	require.Error(t, err)
	assert.Equal(t, "list volume tenant-a-etcd-snapshots from Pod tenant-a-snapshots-x: phase Failed, exit code 1: list snapshots in /snapshots: permission denied", err.Error())
	pods, err := client.CoreV1().Pods("ns-a").List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, pods.Items, "the listing Pod is deleted")
}
