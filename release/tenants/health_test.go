package tenants

import (
	"context"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/taowa/taowa/hooks/pki"
	"github.com/taowa/taowa/internal/certs"
	"github.com/taowa/taowa/release/tenants/tenantstest"
)

// healthTenant is tenant-a in namespace t: its StatefulSet and Deployments at the given replicas
// (etcd, apiserver, controller-manager, scheduler).
func healthTenant(replicas ...int32) []runtime.Object {
	var objs []runtime.Object
	for i, w := range workloads {
		meta := metav1.ObjectMeta{Name: "tenant-a-" + w.part, Namespace: "t"}
		if w.kind == "StatefulSet" {
			objs = append(objs, &appsv1.StatefulSet{ObjectMeta: meta, Spec: appsv1.StatefulSetSpec{Replicas: &replicas[i]}})
		} else {
			objs = append(objs, &appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{Replicas: &replicas[i]}})
		}
	}
	return objs
}

var healthStart = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// healthPod is a Pod of tenant-a's component, created at minute created, scheduled on node-1,
// with one container of the component's name; ready says whether it and the Pod are Ready.
func healthPod(name, component string, created int, ready bool, restarts int32) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "t", CreationTimestamp: metav1.NewTime(healthStart.Add(time.Duration(created) * time.Minute)),
			Labels: map[string]string{labelName: ChartName, labelInstance: "tenant-a", labelComponent: component}},
		Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: component}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}, {Type: corev1.PodReady, Status: status}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: component, Ready: ready, RestartCount: restarts,
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}},
		},
	}
}

// servingPods are a Ready Pod of each component (three of etcd), created at minute 0.
func servingPods() []runtime.Object {
	return []runtime.Object{
		healthPod("tenant-a-etcd-0", "etcd", 0, true, 0),
		healthPod("tenant-a-etcd-1", "etcd", 0, true, 1),
		healthPod("tenant-a-etcd-2", "etcd", 0, true, 0),
		healthPod("tenant-a-apiserver-old", "kube-apiserver", 0, true, 2),
		healthPod("tenant-a-controller-manager-x", "kube-controller-manager", 0, true, 0),
		healthPod("tenant-a-scheduler-x", "kube-scheduler", 0, true, 0),
	}
}

func health(t *testing.T, objs ...runtime.Object) Health {
	t.Helper()
	return healthWith(t, healthyMembers(), objs...)
}

func component(t *testing.T, h Health, name string) ComponentHealth {
	t.Helper()
	for _, c := range h.Components {
		if c.Component == name {
			return c
		}
	}
	t.Fatalf("no component %s in %+v", name, h.Components)
	return ComponentHealth{}
}

func TestHealthOfAHealthyTenant(t *testing.T) {
	terminating := healthPod("tenant-a-apiserver-gone", "kube-apiserver", 0, false, 0)
	terminating.DeletionTimestamp = &metav1.Time{Time: healthStart}
	terminating.Status.ContainerStatuses[0].State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}
	otherRelease := healthPod("tenant-b-apiserver-x", "kube-apiserver", 0, false, 0)
	otherRelease.Labels[labelInstance] = "tenant-b"
	hook := healthPod("tenant-a-pki-x", "pki", 0, false, 0)
	hook.Status.Phase = corev1.PodSucceeded

	h := health(t, append(append(healthTenant(3, 1, 1, 1), servingPods()...), terminating, otherRelease, hook)...)
	assert.True(t, h.Healthy)
	assert.Equal(t, "tenant-a", h.Name)
	assert.Equal(t, "t", h.Namespace)
	assert.Nil(t, h.Certificates, "no PKI Secrets")
	var names []string
	for _, c := range h.Components {
		names = append(names, c.Component)
		assert.True(t, c.Healthy, "%+v", c)
		assert.Equal(t, ReasonHealthy, c.Reason)
		assert.Empty(t, c.Message)
		assert.Equal(t, c.Desired, c.Ready, c.Component)
	}
	assert.Equal(t, ControlPlaneComponents, names)
	assert.Equal(t, ComponentHealth{Component: "etcd", Healthy: true, Desired: 3, Ready: 3, Restarts: 1, Reason: ReasonHealthy}, h.Components[0])
	assert.Equal(t, int32(2), h.Components[1].Restarts)
}

func TestHealthOfAHibernatedTenant(t *testing.T) {
	h := health(t, healthTenant(0, 0, 0, 0)...)
	assert.True(t, h.Healthy)
	for _, c := range h.Components {
		assert.Equal(t, ComponentHealth{Component: c.Component, Healthy: true, Reason: ReasonHibernated}, c)
	}
}

func TestHealthReportsANewApiserverCrashLoopingBesideTheOldOne(t *testing.T) {
	crashing := healthPod("tenant-a-apiserver-new", "kube-apiserver", 5, false, 4)
	crashing.Status.ContainerStatuses[0].State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff",
		Message: "back-off 1m20s restarting failed container=kube-apiserver"}}
	crashing.Status.ContainerStatuses[0].LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: 1, Reason: "Error", Message: "Error: unknown flag: --no-such-flag\n" + strings.Repeat("usage ", 100)}}

	h := health(t, append(append(healthTenant(3, 1, 1, 1), servingPods()...), crashing)...)
	assert.False(t, h.Healthy)
	c := component(t, h, "kube-apiserver")
	assert.False(t, c.Healthy)
	assert.Equal(t, ReasonCrashLoopBackOff, c.Reason)
	assert.Equal(t, int32(1), c.Ready, "the old Pod still serves")
	assert.Equal(t, int32(6), c.Restarts)
	assert.True(t, strings.HasPrefix(c.Message,
		"pod tenant-a-apiserver-new: container kube-apiserver crash-looping, 4 restarts, last exit 1 (Error): Error: unknown flag: --no-such-flag usage usage"), c.Message)
	assert.True(t, strings.HasSuffix(c.Message, "…"), "the termination message is trimmed: %s", c.Message)
	_, termination, _ := strings.Cut(c.Message, "(Error): ")
	assert.Equal(t, maxMessage, len([]rune(termination)))
	assert.True(t, component(t, h, "etcd").Healthy, "other components are judged on their own")
}

// Between two back-offs the kubelet says the crashing container is Running: not Ready, with its
// last exit an error. With the old Pod serving, that is as unhealthy as the back-off itself.
func TestHealthReportsACrashingApiserverWhileItRunsAgain(t *testing.T) {
	crashing := healthPod("tenant-a-apiserver-new", "kube-apiserver", 5, false, 1)
	crashing.Status.ContainerStatuses[0].LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: 1, Reason: "Error", Message: "Error: unknown flag: --no-such-flag"}}

	h := health(t, append(append(healthTenant(3, 1, 1, 1), servingPods()...), crashing)...)
	assert.False(t, h.Healthy)
	assert.Equal(t, ComponentHealth{Component: "kube-apiserver", Desired: 1, Ready: 1, Restarts: 3, Reason: ReasonCrashLoopBackOff,
		Message: "pod tenant-a-apiserver-new: container kube-apiserver restarted, not ready, 1 restarts, last exit 1 (Error): Error: unknown flag: --no-such-flag"},
		component(t, h, "kube-apiserver"))

	// Ready again, it has recovered.
	crashing.Status.ContainerStatuses[0].Ready = true
	crashing.Status.Conditions[1].Status = corev1.ConditionTrue
	h = health(t, append(append(healthTenant(3, 1, 2, 1), servingPods()...), crashing)...)
	assert.Equal(t, ReasonHealthy, component(t, h, "kube-apiserver").Reason)
}

func TestHealthReportsAnUnschedulablePodWithTheSchedulersMessage(t *testing.T) {
	pending := healthPod("tenant-a-apiserver-new", "kube-apiserver", 5, false, 0)
	pending.Spec.NodeName = ""
	pending.Status = corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled,
		Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/1 nodes are available: 1 Insufficient eni.taowa.io/subnet-a."}}}

	h := health(t, append(append(healthTenant(3, 1, 1, 1), servingPods()...), pending)...)
	c := component(t, h, "kube-apiserver")
	assert.Equal(t, ComponentHealth{Component: "kube-apiserver", Desired: 1, Ready: 1, Restarts: 2, Reason: ReasonUnschedulable,
		Message: "pod tenant-a-apiserver-new unschedulable: 0/1 nodes are available: 1 Insufficient eni.taowa.io/subnet-a."}, c)
	assert.False(t, h.Healthy)
}

func TestHealthReportsImagePullBackOffAndRanksProblems(t *testing.T) {
	pulling := healthPod("tenant-a-scheduler-new", "kube-scheduler", 5, false, 0)
	pulling.Status.ContainerStatuses[0].Image = "registry.example/kube-scheduler:v1.99.0"
	pulling.Status.ContainerStatuses[0].State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull",
		Message: `rpc error: code = NotFound desc = failed to pull and unpack image "registry.example/kube-scheduler:v1.99.0": not found`}}
	// An older unschedulable Pod ranks below the image problem.
	pending := healthPod("tenant-a-scheduler-pending", "kube-scheduler", 3, false, 0)
	pending.Spec.NodeName = ""
	pending.Status = corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled,
		Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/1 nodes are available"}}}

	h := health(t, append(append(healthTenant(3, 1, 1, 1), servingPods()...), pending, pulling)...)
	c := component(t, h, "kube-scheduler")
	assert.False(t, c.Healthy)
	assert.Equal(t, ReasonImagePullBackOff, c.Reason)
	assert.Equal(t, `pod tenant-a-scheduler-new: container kube-scheduler cannot pull registry.example/kube-scheduler:v1.99.0 (ErrImagePull): `+
		`rpc error: code = NotFound desc = failed to pull and unpack image "registry.example/kube-scheduler:v1.99.0": not found`, c.Message)
}

func TestHealthOfInitContainersAndPodsNotReady(t *testing.T) {
	// etcd-1 runs but is not ready; etcd-2 waits for its init container.
	notReady := healthPod("tenant-a-etcd-1", "etcd", 0, false, 3)
	notReady.Status.ContainerStatuses[0].LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}
	initializing := healthPod("tenant-a-etcd-2", "etcd", 1, false, 0)
	initializing.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "etcd-restore", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
	initializing.Status.ContainerStatuses[0].State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}
	// A controller-manager whose init container crash-loops.
	initCrash := healthPod("tenant-a-controller-manager-x", "kube-controller-manager", 0, false, 0)
	initCrash.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "wait-order", RestartCount: 5,
		State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error", Message: "forbidden"}}}}
	// A new apiserver Pod still being created beside the serving one: a rollout, healthy.
	creating := healthPod("tenant-a-apiserver-new", "kube-apiserver", 5, false, 0)
	creating.Status.ContainerStatuses[0].State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}

	h := health(t, append(healthTenant(3, 1, 1, 1),
		healthPod("tenant-a-etcd-0", "etcd", 0, true, 0), notReady, initializing,
		healthPod("tenant-a-apiserver-old", "kube-apiserver", 0, true, 0), creating,
		initCrash, healthPod("tenant-a-scheduler-x", "kube-scheduler", 0, true, 0))...)

	etcd := component(t, h, "etcd")
	assert.Equal(t, ComponentHealth{Component: "etcd", Desired: 3, Ready: 1, Restarts: 3, Reason: ReasonPodInitializing,
		Message: "pod tenant-a-etcd-2: init container etcd-restore has not finished"}, etcd, "the newest Pod first")
	assert.Equal(t, ComponentHealth{Component: "kube-apiserver", Healthy: true, Desired: 1, Ready: 1, Reason: ReasonHealthy},
		component(t, h, "kube-apiserver"))
	cm := component(t, h, "kube-controller-manager")
	assert.Equal(t, ReasonCrashLoopBackOff, cm.Reason)
	assert.Equal(t, "pod tenant-a-controller-manager-x: init container wait-order crash-looping, 5 restarts, last exit 1 (Error): forbidden", cm.Message)
	assert.Equal(t, int32(5), cm.Restarts)

	// Without the initializing Pod, the running one that is not ready names the reason.
	h = health(t, append(healthTenant(3, 1, 1, 1), healthPod("tenant-a-etcd-0", "etcd", 0, true, 0), notReady)...)
	assert.Equal(t, ComponentHealth{Component: "etcd", Desired: 3, Ready: 1, Restarts: 3, Reason: ReasonNotReady,
		Message: "pod tenant-a-etcd-1: container etcd running but not ready, 3 restarts, last exit 0 (Completed)"}, component(t, h, "etcd"))
	// Had it last exited with an error, it would crash-loop until Ready, whatever else is going on.
	notReady.Status.ContainerStatuses[0].LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: 2, Reason: "Error"}
	h = health(t, append(healthTenant(3, 1, 1, 1), healthPod("tenant-a-etcd-0", "etcd", 0, true, 0), notReady, initializing)...)
	assert.Equal(t, ComponentHealth{Component: "etcd", Desired: 3, Ready: 1, Restarts: 3, Reason: ReasonCrashLoopBackOff,
		Message: "pod tenant-a-etcd-1: container etcd restarted, not ready, 3 restarts, last exit 2 (Error)"}, component(t, h, "etcd"))
	// With every Pod there Ready, the ones never created are the problem.
	h = health(t, append(healthTenant(3, 1, 1, 1), healthPod("tenant-a-etcd-0", "etcd", 0, true, 0))...)
	assert.Equal(t, ReasonPodsMissing, component(t, h, "etcd").Reason)
	assert.Equal(t, ReasonPodsMissing, component(t, h, "kube-apiserver").Reason, "no Pod at all")
}

func TestHealthReportsAStalledRollout(t *testing.T) {
	objs := append(healthTenant(3, 1, 1, 1), servingPods()...)
	objs[1].(*appsv1.Deployment).Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing,
		Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded", Message: `ReplicaSet "tenant-a-apiserver-5d9" has timed out progressing.`}}
	c := component(t, health(t, objs...), "kube-apiserver")
	assert.Equal(t, ReasonProgressDeadlineExceeded, c.Reason)
	assert.Equal(t, `Deployment tenant-a-apiserver: ReplicaSet "tenant-a-apiserver-5d9" has timed out progressing.`, c.Message)
	assert.False(t, c.Healthy)
}

func TestHealthReportsAMissingWorkload(t *testing.T) {
	objs := append(healthTenant(3, 1, 1, 1), servingPods()...)
	objs = append(objs[:3], objs[4:]...) // no scheduler Deployment
	h := health(t, objs...)
	assert.False(t, h.Healthy)
	assert.Equal(t, ComponentHealth{Component: "kube-scheduler", Reason: ReasonMissing, Message: "Deployment tenant-a-scheduler not found"},
		component(t, h, "kube-scheduler"))
	assert.True(t, component(t, h, "kube-controller-manager").Healthy)

	h = health(t)
	for _, c := range h.Components {
		assert.Equal(t, ReasonMissing, c.Reason, c.Component)
	}
	assert.Equal(t, "StatefulSet tenant-a-etcd not found", h.Components[0].Message)
}

func TestHealthFindsTheEarliestCertificate(t *testing.T) {
	ca, err := certs.NewCA("tenant-a-ca", 72*time.Hour)
	require.NoError(t, err)
	issue := func(cn string, validity time.Duration) *certs.KeyPair {
		kp, err := ca.Issue(certs.Spec{CommonName: cn, Usages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, Validity: validity})
		require.NoError(t, err)
		return kp
	}
	labelled := func(part string, data map[string][]byte) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "tenant-a-" + part, Namespace: "t",
			Labels: map[string]string{pki.LabelRelease: "tenant-a"}}, Data: data}
	}
	apiserver, scheduler, admin := issue("kube-apiserver", 48*time.Hour), issue("system:kube-scheduler", 36*time.Hour), issue(pki.AdminUser, 2*time.Hour)
	kubeconfig := func(user string, kp *certs.KeyPair) []byte {
		kc, err := certs.Kubeconfig("tenant-a", "https://tenant-a-apiserver.t.svc:6443", ca.CertPEM(), user, kp)
		require.NoError(t, err)
		return kc
	}
	objs := append(healthTenant(3, 1, 1, 1), servingPods()...)
	objs = append(objs,
		labelled(pki.SecretCA, map[string][]byte{pki.KeyCert: ca.CertPEM(), pki.KeyCA: ca.CertPEM(), pki.KeyKey: []byte("not a certificate")}),
		labelled(pki.SecretAPIServer, map[string][]byte{pki.KeyCert: apiserver.CertPEM(), pki.KeyCA: ca.CertPEM()}),
		labelled(pki.SecretSchedulerKC, map[string][]byte{pki.KeyKubeconfig: kubeconfig("system:kube-scheduler", scheduler)}),
		labelled(pki.SecretAdminKubeconfig, map[string][]byte{pki.KeyKubeconfig: kubeconfig(pki.AdminUser, admin)}),
		labelled(pki.SecretEtcdPeer, map[string][]byte{pki.KeyCert: []byte("garbage")}),
		// Another release's Secret: not counted.
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "tenant-b-apiserver", Namespace: "t", Labels: map[string]string{pki.LabelRelease: "tenant-b"}},
			Data: map[string][]byte{pki.KeyCert: issue("tenant-b", time.Hour).CertPEM()}},
	)
	client := fake.NewClientset(objs...)
	tenantstest.ServeEtcd(client, nil)

	h, err := TenantHealth(context.Background(), client, "t", "tenant-a")
	require.NoError(t, err)
	require.NotNil(t, h.Certificates)
	c := *h.Certificates
	assert.Equal(t, "tenant-a-admin-kubeconfig", c.Secret)
	assert.Equal(t, pki.KeyKubeconfig, c.Key)
	assert.Equal(t, pki.AdminUser, c.Subject)
	assert.True(t, c.NotAfter.Equal(admin.Cert.NotAfter), "%s, want %s", c.NotAfter, admin.Cert.NotAfter)
	assert.Equal(t, 6, c.Count, "the CA twice, the apiserver's certificate and its CA, two client certificates")
	require.Len(t, c.Unreadable, 1)
	assert.Contains(t, c.Unreadable[0], "tenant-a-etcd-peer tls.crt: ")
	assert.True(t, h.Healthy)

	h, err = healthOf(context.Background(), client, "t", "tenant-a", admin.Cert.NotAfter.Add(time.Second))
	require.NoError(t, err)
	assert.False(t, h.Healthy, "an expired certificate")
	assert.True(t, h.Certificates.Expired(admin.Cert.NotAfter))
	assert.False(t, h.Certificates.Expired(admin.Cert.NotAfter.Add(-time.Second)))
}

func TestHealthNeedsATenantMaster(t *testing.T) {
	m, _ := newTestManager(t, nil)
	_, err := m.Health(context.Background(), "t", "tenant-a")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "health of tenant-a in namespace t")
}
