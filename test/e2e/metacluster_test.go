//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/taowa/taowa/hack/metacluster"
)

// TestMetaClusterWorkloads runs the kinds of workload the tenant masters are made of on the meta
// cluster: a Deployment behind a Service, a StatefulSet with a dynamically provisioned PVC, and a
// Job that finds the Service by its DNS name through CoreDNS and kube-proxy.
func TestMetaClusterWorkloads(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ns := testNamespace(ctx, t, "e2e-meta")
	c := env.client

	labels := map[string]string{"app": "web"}
	_, err := c.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       busyboxPod("mkdir -p /tmp/www && hostname > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www"),
			},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = c.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	storeLabels := map[string]string{"app": "store"}
	_, err = c.AppsV1().StatefulSets(ns).Create(ctx, &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "store"},
		Spec: appsv1.StatefulSetSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: storeLabels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: storeLabels},
				Spec:       withVolume(busyboxPod("echo persisted-$(hostname) > /data/hello && trap 'exit 0' TERM && while true; do sleep 1; done"), "data", "/data"),
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("64Mi")}},
				},
			}},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	// The Job resolves the Service's full name and fetches a page from it, retrying in the
	// container for a minute (kube-proxy programs a new Service eventually; a restarted container
	// would wait out the kubelet's growing back-off instead), and says what each attempt saw.
	// busybox 1.35's wget -T crashes (SIGSEGV, measured here); timeout(1) bounds each attempt.
	svc := "web." + ns + ".svc." + metacluster.DNSDomain
	_, err = c.BatchV1().Jobs(ns).Create(ctx, &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "probe"},
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr.To[int32](0),
			Template: corev1.PodTemplateSpec{Spec: func() corev1.PodSpec {
				p := busyboxPod(fmt.Sprintf(`nslookup %[1]s || exit 1
for i in $(seq 20); do
  if page=$(timeout 5 wget -qO- http://%[1]s/); then echo "page: $page"; exit 0; fi
  echo "attempt $i failed"; sleep 2
done
exit 1`, svc))
				p.RestartPolicy = corev1.RestartPolicyNever
				return p
			}()},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	waitUntil(ctx, t, "Deployment web available", func(ctx context.Context) (bool, error) {
		d, err := c.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		return err == nil && d.Status.AvailableReplicas == 2, err
	})
	waitUntil(ctx, t, "PVC data-store-0 bound", func(ctx context.Context) (bool, error) {
		pvc, err := c.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data-store-0", metav1.GetOptions{})
		return err == nil && pvc.Status.Phase == corev1.ClaimBound, nil
	})
	waitUntil(ctx, t, "StatefulSet store ready", func(ctx context.Context) (bool, error) {
		s, err := c.AppsV1().StatefulSets(ns).Get(ctx, "store", metav1.GetOptions{})
		return err == nil && s.Status.ReadyReplicas == 1, err
	})
	waitUntil(ctx, t, "Job probe finished", func(ctx context.Context) (bool, error) {
		j, err := c.BatchV1().Jobs(ns).Get(ctx, "probe", metav1.GetOptions{})
		return err == nil && j.Status.Succeeded+j.Status.Failed > 0, err
	})

	// The page came from one of the web Pods, whose hostname is its Pod name.
	logs := kubectl(t, "-n", ns, "logs", "job/probe")
	if !strings.Contains(logs, "page: web-") {
		t.Logf("the probe failed; Pods and Service:\n%s\n%s", kubectl(t, "-n", ns, "get", "pods,endpointslices", "-o", "wide"),
			kubectl(t, "-n", ns, "get", "service", "web", "-o", "yaml"))
	}
	require.Contains(t, logs, "Name:", "nslookup output in the Job's log")
	require.Regexp(t, `page: web-[a-z0-9]+-[a-z0-9]+`, logs)

	require.Equal(t, "persisted-store-0", strings.TrimSpace(kubectl(t, "-n", ns, "exec", "store-0", "--", "cat", "/data/hello")))
}

func busyboxPod(script string) corev1.PodSpec {
	return corev1.PodSpec{
		TerminationGracePeriodSeconds: ptr.To[int64](2),
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](1000), FSGroup: ptr.To[int64](1000),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		Containers: []corev1.Container{{
			Name:            "main",
			Image:           metacluster.BusyboxImage,
			ImagePullPolicy: corev1.PullIfNotPresent,
			Command:         []string{"sh", "-c", script},
			SecurityContext: &corev1.SecurityContext{
				AllowPrivilegeEscalation: ptr.To(false),
				Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			},
		}},
	}
}

func withVolume(p corev1.PodSpec, claim, path string) corev1.PodSpec {
	p.Containers[0].VolumeMounts = append(p.Containers[0].VolumeMounts, corev1.VolumeMount{Name: claim, MountPath: path})
	return p
}

// testNamespace creates a namespace that is deleted when the test ends.
func testNamespace(ctx context.Context, t testing.TB, prefix string) string {
	t.Helper()
	ns, err := env.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = env.client.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
	})
	return ns.Name
}

func waitUntil(ctx context.Context, t testing.TB, what string, cond func(context.Context) (bool, error)) {
	t.Helper()
	start := time.Now()
	var last error
	err := wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		ok, err := cond(ctx)
		last = err
		return ok, nil
	})
	require.NoError(t, err, "waiting for %s (last error: %v)", what, last)
	t.Logf("%s after %.1fs", what, time.Since(start).Seconds())
}

func kubectl(t testing.TB, args ...string) string {
	t.Helper()
	return kubectlStdin(t, nil, args...)
}

// kubectlStdin runs kubectl with stdin as its standard input (none when nil).
func kubectlStdin(t testing.TB, stdin []byte, args ...string) string {
	t.Helper()
	out, err := kubectlStdinOutput(context.Background(), stdin, args...)
	require.NoError(t, err, "kubectl %s: %s", strings.Join(args, " "), out)
	return out
}

// kubectlStdinOutput runs kubectl against the meta cluster and returns its combined output, for
// commands that are meant to fail.
func kubectlStdinOutput(ctx context.Context, stdin []byte, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, env.kubectl, append([]string{"--kubeconfig", env.kubeconfig}, args...)...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}
