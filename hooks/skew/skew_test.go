package skew

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/taowa/taowa/postrender"
	"github.com/taowa/taowa/versions"
)

func v(s string) versions.Version {
	out, err := versions.Parse(s)
	if err != nil {
		panic(err)
	}
	return out
}

func TestCheck(t *testing.T) {
	table := versions.Builtin()
	running := func(vs ...string) []Running {
		var out []Running
		for _, s := range vs {
			out = append(out, Running{Source: "test", Version: v(s)})
		}
		return out
	}
	for _, tc := range []struct {
		name, target string
		running      []Running
		refused      string // substring of the refusal; empty: allowed
	}{
		{"patch upgrade", "1.36.3", running("1.36.2"), ""},
		{"next minor", "1.37.2", running("1.36.3"), ""},
		{"same version (a resync)", "1.37.2", running("1.37.2"), ""},
		{"rollback one minor", "1.36.3", running("1.37.2"), ""},
		{"minor skip names both versions and the next step", "1.37.2", running("1.35.4"), "cannot upgrade Kubernetes 1.35.4 to 1.37.2: upgrades go one minor at a time; upgrade to 1.36.3 first"},
		{"rollback of two minors", "1.35.4", running("1.37.2"), "a rollback goes back one minor at most, to 1.36.3"},
		{"unsupported target", "1.30.0", running("1.31.13"), "target Kubernetes 1.30.0"},
		{"mid-rollout: every running version counts", "1.37.2", running("1.37.2", "1.35.4"), "upgrade to 1.36.3 first"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(table, v(tc.target), tc.running)
			if tc.refused == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.True(t, IsRefused(err), "a refusal, not a fault: %v", err)
			assert.Contains(t, err.Error(), tc.refused)
		})
	}
}

func controlPlanePod(name, component, version string) corev1.Pod {
	return corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Name:        name,
		Labels:      map[string]string{postrender.LabelComponent: component},
		Annotations: map[string]string{postrender.AnnotationKubernetesVersion: version},
	}}
}

func runningEtcd() corev1.Pod {
	p := controlPlanePod("etcd-0", "etcd", "1.37.2")
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "etcd", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
	return p
}

func TestOrderBlocker(t *testing.T) {
	upgrading := []corev1.Pod{
		runningEtcd(),
		controlPlanePod("apiserver-old", "kube-apiserver", "1.36.3"),
		controlPlanePod("apiserver-new", "kube-apiserver", "1.37.2"),
		controlPlanePod("kcm-old", "kube-controller-manager", "1.36.3"),
		controlPlanePod("kcm-new", "kube-controller-manager", "1.37.2"),
	}
	_, ok := OrderBlocker(upgrading, "kube-apiserver", v("1.37.2"))
	assert.True(t, ok, "on an upgrade the apiserver goes first")
	reason, ok := OrderBlocker(upgrading, "kube-controller-manager", v("1.37.2"))
	assert.False(t, ok, "the controller-manager waits for the old apiserver to go")
	assert.Contains(t, reason, "kube-apiserver Pod apiserver-old runs 1.36.3, older than this kube-controller-manager's 1.37.2")
	now := metav1.Now()
	upgrading[1].DeletionTimestamp = &now
	_, ok = OrderBlocker(upgrading, "kube-controller-manager", v("1.37.2"))
	assert.True(t, ok, "a terminating apiserver is out of the Service: the controller-manager need not wait for it to drain")

	rollingBack := []corev1.Pod{
		runningEtcd(),
		controlPlanePod("apiserver-old", "kube-apiserver", "1.37.2"),
		controlPlanePod("apiserver-new", "kube-apiserver", "1.36.3"),
		controlPlanePod("sched-old", "kube-scheduler", "1.37.2"),
		controlPlanePod("sched-new", "kube-scheduler", "1.36.3"),
	}
	_, ok = OrderBlocker(rollingBack, "kube-scheduler", v("1.36.3"))
	assert.True(t, ok, "on a rollback the scheduler goes first")
	reason, ok = OrderBlocker(rollingBack, "kube-apiserver", v("1.36.3"))
	assert.False(t, ok, "the apiserver waits for the newer scheduler to go")
	assert.Contains(t, reason, "kube-scheduler Pod sched-old runs 1.37.2, newer than this apiserver's 1.36.3")

	_, ok = OrderBlocker(nil, "kube-controller-manager", v("1.37.2"))
	assert.True(t, ok, "a fresh install's controllers wait for nothing")

	starting := controlPlanePod("etcd-0", "etcd", "1.37.2")
	reason, ok = OrderBlocker([]corev1.Pod{starting}, "kube-apiserver", v("1.37.2"))
	assert.False(t, ok, "a fresh install's apiserver waits for etcd")
	assert.Equal(t, "no etcd member runs yet", reason)
	_, ok = OrderBlocker([]corev1.Pod{starting, runningEtcd()}, "kube-apiserver", v("1.37.2"))
	assert.True(t, ok, "one running member is enough")
}

func TestObserve(t *testing.T) {
	ctx := context.Background()
	running, err := Observe(ctx, fake.NewClientset(), "ns", "tenant-a", func(string) { t.Fatal("no warning expected") })
	require.NoError(t, err)
	assert.Empty(t, running, "no Deployment: a first install, nothing runs")

	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "tenant-a-apiserver"}}
	d.Spec.Template.Annotations = map[string]string{postrender.AnnotationKubernetesVersion: "1.36.3"}
	var warnings []string
	running, err = Observe(ctx, fake.NewClientset(d), "ns", "tenant-a", func(w string) { warnings = append(warnings, w) })
	require.NoError(t, err)
	assert.Equal(t, []Running{{Source: "Deployment tenant-a-apiserver", Version: v("1.36.3")}}, running)
	require.Len(t, warnings, 1, "the unreachable /version is reported")
	assert.Contains(t, warnings[0], "admin kubeconfig Secret does not exist")
}

func TestCheckEtcdMembers(t *testing.T) {
	ctx := context.Background()
	three := int32(3)
	meta := fake.NewClientset(&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "t-etcd", Namespace: "ns"}, Spec: appsv1.StatefulSetSpec{Replicas: &three}})
	require.NoError(t, CheckEtcdMembers(ctx, meta, "ns", "t", 3))
	for _, want := range []int{1, 5} {
		err := CheckEtcdMembers(ctx, meta, "ns", "t", want)
		require.Error(t, err)
		assert.True(t, IsRefused(err), "a refusal, not a fault")
		assert.Contains(t, err.Error(), fmt.Sprintf("etcd.replicas is 3 on the running tenant (StatefulSet ns/t-etcd) and the release asks for %d", want))
		assert.Contains(t, err.Error(), "keep etcd.replicas at 3")
	}
	require.NoError(t, CheckEtcdMembers(ctx, fake.NewClientset(), "ns", "t", 3), "nothing runs yet: a first install")

	// Hibernated: no member runs, and the annotation keeps the count.
	zero := int32(0)
	asleep := fake.NewClientset(&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "t-etcd", Namespace: "ns",
		Annotations: map[string]string{AnnotationEtcdMembers: "3"}}, Spec: appsv1.StatefulSetSpec{Replicas: &zero}})
	require.NoError(t, CheckEtcdMembers(ctx, asleep, "ns", "t", 3), "a sleeping tenant wakes with its members")
	assert.ErrorContains(t, CheckEtcdMembers(ctx, asleep, "ns", "t", 1), "etcd.replicas is 3 on the running tenant")
}

func TestCheckHibernation(t *testing.T) {
	parse := func(s string) versions.Version {
		v, err := versions.Parse(s)
		require.NoError(t, err)
		return v
	}
	v136, v137 := parse("1.36.3"), parse("1.37.2")
	running := []Running{{Source: "Deployment t-apiserver", Version: v136}}
	for name, tc := range map[string]struct {
		target            versions.Version
		asleep, hibernate bool
		refusal           string
	}{
		"awake, upgraded":           {target: v137},
		"put to sleep":              {target: v136, hibernate: true},
		"woken":                     {target: v136, asleep: true},
		"asleep, upgraded":          {target: v137, asleep: true, refusal: "hibernated at Kubernetes 1.36.3 (read from Deployment t-apiserver): wake it at that version first"},
		"woken and upgraded":        {target: v137, asleep: true, hibernate: false, refusal: "wake it at that version first"},
		"put to sleep and upgraded": {target: v137, hibernate: true, refusal: "hibernating and changing Kubernetes 1.36.3 -> 1.37.2 at once"},
	} {
		err := CheckHibernation(tc.target, running, tc.asleep, tc.hibernate)
		if tc.refusal == "" {
			assert.NoError(t, err, name)
			continue
		}
		assert.True(t, IsRefused(err), "%s: %v", name, err)
		assert.ErrorContains(t, err, tc.refusal, name)
	}
}

func TestAsleep(t *testing.T) {
	ctx := context.Background()
	meta := fake.NewClientset()
	asleep, err := Asleep(ctx, meta, "ns", "t")
	require.NoError(t, err)
	assert.False(t, asleep, "no Deployment: nothing sleeps")
	for _, replicas := range []int32{2, 0} {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "t-apiserver", Namespace: "ns"}, Spec: appsv1.DeploymentSpec{Replicas: &replicas}}
		_, err := meta.AppsV1().Deployments("ns").Create(ctx, d, metav1.CreateOptions{})
		if err != nil {
			_, err = meta.AppsV1().Deployments("ns").Update(ctx, d, metav1.UpdateOptions{})
		}
		require.NoError(t, err)
		asleep, err := Asleep(ctx, meta, "ns", "t")
		require.NoError(t, err)
		assert.Equal(t, replicas == 0, asleep, "%d apiservers", replicas)
	}
}
