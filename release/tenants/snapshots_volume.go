package tenants

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/chartutil"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/taowa/taowa/hooks/etcdsnapshot"
)

// volumeListTimeout bounds the listing Pod's life: its image is the hooks' own, present on any
// node that ran a hook, so most of it is waiting for the volume to attach.
const volumeListTimeout = 2 * time.Minute

// volumeSnapshots lists the snapshots on release's snapshot volume. Only a Pod that mounts the
// volume can read it: one of the hooks' image (as values, coalesced with the chart's, name it)
// mounts it read-only, prints the listing and is deleted. found is false when there is no volume.
func volumeSnapshots(ctx context.Context, client kubernetes.Interface, namespace, release string, values chartutil.Values, chartVersion string, verify bool) (files []etcdsnapshot.File, found bool, err error) {
	claim := objectName(release, "etcd-snapshots")
	_, err = client.CoreV1().PersistentVolumeClaims(namespace).Get(ctx, claim, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("PersistentVolumeClaim %s: %w", claim, err)
	}
	pod, err := volumeListPod(release, claim, values, chartVersion, verify)
	if err != nil {
		return nil, true, err
	}
	pod, err = client.CoreV1().Pods(namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		return nil, true, fmt.Errorf("create a Pod to list volume %s: %w", claim, err)
	}
	defer func() {
		gone := client.CoreV1().Pods(namespace).Delete(context.WithoutCancel(ctx), pod.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
		if gone != nil && !apierrors.IsNotFound(gone) {
			err = errors.Join(err, fmt.Errorf("delete Pod %s: %w", pod.Name, gone))
		}
	}()
	fail := func(err error) ([]etcdsnapshot.File, bool, error) {
		return nil, true, fmt.Errorf("list volume %s from Pod %s: %w", claim, pod.Name, err)
	}
	var last *corev1.Pod
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, volumeListTimeout, true, func(ctx context.Context) (bool, error) {
		last, err = client.CoreV1().Pods(namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return last.Status.Phase == corev1.PodSucceeded || last.Status.Phase == corev1.PodFailed, nil
	})
	if err != nil {
		return fail(fmt.Errorf("%w (%s)", err, podState(last)))
	}
	if last.Status.Phase == corev1.PodFailed {
		return fail(errors.New(podState(last)))
	}
	out, err := client.CoreV1().Pods(namespace).GetLogs(pod.Name, &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil {
		return fail(fmt.Errorf("read its output: %w", err))
	}
	if err := json.Unmarshal(out, &files); err != nil {
		return fail(fmt.Errorf("its output %q: %w", strings.TrimSpace(string(out)), err))
	}
	return files, true, nil
}

// volumeListPod is the Pod that lists claim: the hooks' image, Pod security and pull settings.
func volumeListPod(release, claim string, values chartutil.Values, chartVersion string, verify bool) (*corev1.Pod, error) {
	text := func(path string) string { v, _ := values.PathValue(path); s, _ := v.(string); return s }
	image := text("hook.image.repository") + ":" + chartVersion
	if tag := text("hook.image.tag"); tag != "" {
		image = text("hook.image.repository") + ":" + tag
	}
	var resources corev1.ResourceRequirements
	if r, err := values.Table("hook.resources"); err == nil {
		if err := remarshal(r.AsMap(), &resources); err != nil {
			return nil, fmt.Errorf("hook.resources: %w", err)
		}
	}
	var pullSecrets []corev1.LocalObjectReference
	if s, ok := values["imagePullSecrets"]; ok {
		if err := remarshal(s, &pullSecrets); err != nil {
			return nil, fmt.Errorf("imagePullSecrets: %w", err)
		}
	}
	args := []string{"etcd-snapshot-list", "--dir=/snapshots"}
	if verify {
		args = append(args, "--verify")
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: release + "-snapshots-",
			Labels:       map[string]string{labelName: ChartName, labelInstance: release, labelComponent: "etcd-snapshot-list"},
		},
		Spec: corev1.PodSpec{
			RestartPolicy:      corev1.RestartPolicyNever,
			EnableServiceLinks: ptr.To(false),
			ImagePullSecrets:   pullSecrets,
			// The chart's restricted Pod security, as its snapshot Jobs run: the files are theirs.
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](65532), RunAsGroup: ptr.To[int64](65532), FSGroup: ptr.To[int64](65532),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name:                     "etcd-snapshot-list",
				Image:                    image,
				ImagePullPolicy:          corev1.PullPolicy(text("imagePullPolicy")),
				Args:                     args,
				Resources:                resources,
				TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
					Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
				VolumeMounts: []corev1.VolumeMount{{Name: "snapshots", MountPath: "/snapshots", ReadOnly: true}},
			}},
			Volumes: []corev1.Volume{{Name: "snapshots", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim, ReadOnly: true},
			}}},
		},
	}, nil
}

// podState says where a Pod is: its phase, and why its container waits or ended.
func podState(p *corev1.Pod) string {
	if p == nil {
		return "not read"
	}
	state := "phase " + string(p.Status.Phase)
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Message != "" {
			state += ", unschedulable: " + c.Message
		}
	}
	for _, s := range p.Status.ContainerStatuses {
		switch {
		case s.State.Waiting != nil:
			state += fmt.Sprintf(", waiting: %s %s", s.State.Waiting.Reason, s.State.Waiting.Message)
		case s.State.Terminated != nil:
			state += fmt.Sprintf(", exit code %d: %s", s.State.Terminated.ExitCode, strings.TrimSpace(s.State.Terminated.Message))
		}
	}
	return strings.TrimSpace(state)
}

func remarshal(in, out any) error {
	data, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, out)
}
