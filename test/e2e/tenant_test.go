//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/taowa/taowa/hooks/pki"
	"github.com/taowa/taowa/release/tenants"
	"github.com/taowa/taowa/versions"
)

// helm runs one Helm major version against the meta cluster, with its own data, config and
// cache directories so that plugins and repositories of the machine do not leak in. (Helm 4
// installs plugins under $HELM_DATA_HOME/plugins whatever HELM_PLUGINS says.)
type helm struct {
	bin  string
	home string
}

func helmFor(t testing.TB, major int) helm {
	t.Helper()
	key := fmt.Sprintf("HELM%d_VERSION", major)
	version := toolVersions()[key]
	require.NotEmpty(t, version, "%s in hack/versions.env", key)
	bin := filepath.Join(env.meta.CacheDir, "tools", fmt.Sprintf("helm%d", major), version, "helm")
	require.FileExists(t, bin, "built by hack/build-tools.sh helm%d", major)
	return helm{bin: bin, home: t.TempDir()}
}

func (h helm) run(ctx context.Context, t testing.TB, args ...string) string {
	t.Helper()
	out, err := h.output(ctx, args...)
	require.NoError(t, err, "helm %s:\n%s", strings.Join(args, " "), out)
	return out
}

// output runs helm and returns its output and error, for steps that are meant to fail.
func (h helm) output(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, h.bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+env.kubeconfig, "HELM_DATA_HOME="+h.home,
		"HELM_CONFIG_HOME="+filepath.Join(h.home, "config"), "HELM_CACHE_HOME="+filepath.Join(h.home, "cache"))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// toolVersions reads hack/versions.env, the one place the project's tool versions are set.
func toolVersions() map[string]string {
	data, err := os.ReadFile(filepath.Join(repoRoot(), "hack", "versions.env"))
	if err != nil {
		return nil
	}
	versions := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if key, value, ok := strings.Cut(strings.TrimSpace(line), "="); ok && !strings.HasPrefix(key, "#") {
			versions[key] = value
		}
	}
	return versions
}

// tenant is one installed tenant master.
type tenant struct {
	release, namespace, version string
	helm                        helm
	// postRenderer is what --post-renderer names: a binary for Helm 3, a plugin for Helm 4.
	postRenderer string
	// extraArgs go to its helm install.
	extraArgs []string
}

// etcdMembers is the etcd.replicas its install sets (the chart's default is 1).
func (tn tenant) etcdMembers() int {
	if slices.Contains(tn.extraArgs, "etcd.replicas=3") {
		return 3
	}
	return 1
}

// TestTenantMasters installs two tenant masters at different minors side by side: one with Helm 3
// and the post-renderer binary, one with Helm 4, the post-renderer plugin and three etcd members,
// of which one is killed. Each must serve its
// version with the admin kubeconfig its PKI hook wrote, keep private keys out of the release, and
// leave only its data (Secrets, etcd volumes) behind on uninstall.
func TestTenantMasters(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	root := repoRoot()
	chart := filepath.Join(root, "charts", "tenant-master")

	helm3, helm4 := helmFor(t, 3), helmFor(t, 4)
	helm4.run(ctx, t, "plugin", "install", filepath.Join(root, "postrender", "plugin"))

	// tenant-a has a VerticalPodAutoscaler per component (the real CRD, from the VPA's own
	// module), a ServiceMonitor (the real CRD, from the Prometheus Operator's types) that a real
	// Prometheus scrapes, and admits scrapers of etcd's metrics from one namespace only.
	applyVPACRD(ctx, t)
	applyServiceMonitorCRD(t)
	monitoring := testNamespace(ctx, t, "e2e-monitoring")
	metricsFrom := fmt.Sprintf(`networkPolicy.metricsFrom=[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":%q}}}]`, monitoring)

	// Namespaces with generated names: what a killed earlier run left cannot collide.
	tenants := []tenant{
		{release: "tenant-a", namespace: testNamespace(ctx, t, "e2e-tenant-a"), version: "1.37.2", helm: helm3, postRenderer: filepath.Join(root, "bin", "taowa-postrender"),
			extraArgs: []string{"--set", "verticalPodAutoscaler.enabled=true", "--set-json", metricsFrom,
				"--set", "serviceMonitor.enabled=true", "--set", "serviceMonitor.interval=2s"}},
		{release: "tenant-b", namespace: testNamespace(ctx, t, "e2e-tenant-b"), version: "1.36.3", helm: helm4, postRenderer: "taowa-postrender",
			extraArgs: []string{"--set", "etcd.replicas=3"}},
	}

	var wg sync.WaitGroup
	for i := range tenants {
		tn := &tenants[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			tn.helm.run(ctx, t, append([]string{"install", tn.release, chart, "--namespace", tn.namespace,
				"--set", "kubernetesVersion=" + tn.version, "--post-renderer", tn.postRenderer, "--wait", "--timeout", "5m"}, tn.extraArgs...)...)
			t.Logf("%s %s installed and Ready after %.1fs", tn.release, tn.version, time.Since(start).Seconds())
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	for _, tn := range tenants {
		t.Run(tn.release, func(t *testing.T) {
			// When `helm install --wait` returns, a client that dials the Service's ClusterIP
			// verifies TLS against that address: no waiting for a re-issued certificate.
			byIP, err := newTenantClient(ctx, tn)
			require.NoError(t, err)
			readyz, err := byIP.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
			require.NoError(t, err, "/readyz through the ClusterIP right after install")
			assert.Equal(t, "ok", string(readyz))

			pods, err := env.client.CoreV1().Pods(tn.namespace).List(ctx, metav1.ListOptions{})
			require.NoError(t, err)
			for _, p := range pods.Items {
				if p.Status.Phase != corev1.PodSucceeded {
					assert.True(t, podReady(&p), "pod %s is not Ready", p.Name)
				}
			}

			client := tenantClient(ctx, t, tn)
			info, err := client.Discovery().ServerVersion()
			require.NoError(t, err)
			assert.Equal(t, "v"+tn.version, info.GitVersion)

			_, err = client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "hello"}}, metav1.CreateOptions{})
			require.NoError(t, err)
			_, err = client.CoreV1().ConfigMaps("hello").Create(ctx, &corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{Name: "greeting"}, Data: map[string]string{"from": tn.release},
			}, metav1.CreateOptions{})
			require.NoError(t, err)

			// The chart's NetworkPolicy: etcd admits this tenant's apiserver and nobody else.
			etcd, err := env.client.CoreV1().Pods(tn.namespace).Get(ctx, tn.release+"-etcd-0", metav1.GetOptions{})
			require.NoError(t, err)
			apiserverLabels := map[string]string{
				"app.kubernetes.io/name": "tenant-master", "app.kubernetes.io/instance": tn.release, "app.kubernetes.io/component": "kube-apiserver",
			}
			assert.True(t, canConnect(ctx, t, tn.namespace, apiserverLabels, etcd.Status.PodIP, 2379), "etcd from its apiserver's labels")
			assert.False(t, canConnect(ctx, t, tn.namespace, nil, etcd.Status.PodIP, 2379), "etcd from another Pod of the tenant")
			intruder := testNamespace(ctx, t, "e2e-intruder")
			assert.False(t, canConnect(ctx, t, intruder, apiserverLabels, etcd.Status.PodIP, 2379), "etcd from another namespace")
			if tn.release == "tenant-a" {
				// networkPolicy.metricsFrom: the monitoring namespace scrapes etcd's metrics port, and
				// reaches nothing else of it.
				assert.True(t, canConnect(ctx, t, monitoring, nil, etcd.Status.PodIP, 2381), "etcd's metrics from the monitoring namespace")
				assert.False(t, canConnect(ctx, t, intruder, nil, etcd.Status.PodIP, 2381), "etcd's metrics from another namespace")
				assert.False(t, canConnect(ctx, t, monitoring, nil, etcd.Status.PodIP, 2379), "etcd's clients port from the monitoring namespace")
				assertVPAsTargetTheComponents(ctx, t, tn)
				assertPrometheusScrapesTenant(ctx, t, tn, monitoring)
			}

			// taowa status --health reads each member's database through the meta apiserver's Pod
			// proxy, whatever the NetworkPolicy.
			members := etcdHealth(ctx, t, tn)
			require.Len(t, members, tn.etcdMembers(), "etcd members")
			for _, m := range members {
				assert.Empty(t, m.Unreadable, "member %s", m.Pod)
				assert.Positive(t, m.DBSize, "member %s: database size", m.Pod)
				assert.EqualValues(t, 2<<30, m.Quota, "member %s: etcd's default quota", m.Pod)
				assert.Empty(t, m.Alarms, "member %s", m.Pod)
			}

			// Every member mounts the snapshot volume to restore: with three, it is ReadWriteMany.
			snapshots, err := env.client.CoreV1().PersistentVolumeClaims(tn.namespace).Get(ctx, tn.release+"-etcd-snapshots", metav1.GetOptions{})
			require.NoError(t, err)
			wantModes := []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
			if tn.etcdMembers() == 3 {
				wantModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
			}
			assert.Equal(t, wantModes, snapshots.Spec.AccessModes, "the snapshot volume's access modes")

			for _, what := range [][]string{{"manifest"}, {"values", "--all"}, {"hooks"}} {
				out := tn.helm.run(ctx, t, append(append([]string{"get"}, what...), tn.release, "-n", tn.namespace)...)
				assert.NotContains(t, out, "PRIVATE KEY", "helm get %s shows a private key", what[0])
			}
		})
	}

	// tenant-b has three etcd members: one killed, the tenant keeps serving, and every write it
	// acknowledged is there after the member is back.
	t.Run("tenant-b/an etcd member killed", func(t *testing.T) {
		tn := tenants[1]
		client := tenantClient(ctx, t, tn)
		_, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "members"}}, metav1.CreateOptions{})
		require.NoError(t, err)
		stopProbe := startWriteProbe(ctx, t, client, "members")
		time.Sleep(2 * time.Second) // writes before the kill
		zero := int64(0)
		killed, err := env.client.CoreV1().Pods(tn.namespace).Get(ctx, tn.release+"-etcd-1", metav1.GetOptions{})
		require.NoError(t, err)
		require.NoError(t, env.client.CoreV1().Pods(tn.namespace).Delete(ctx, killed.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero}))
		waitUntil(ctx, t, "the killed member replaced and Ready", func(ctx context.Context) (bool, error) {
			p, err := env.client.CoreV1().Pods(tn.namespace).Get(ctx, killed.Name, metav1.GetOptions{})
			return err == nil && p.UID != killed.UID && podReady(p), nil
		})
		time.Sleep(2 * time.Second) // writes after the member is back
		requests, failures := stopProbe()
		t.Logf("%d writes while a member was killed and came back, %d failed", requests, failures)
		assert.Zero(t, failures, "two of three members keep the quorum: no write may fail")
		list, err := client.CoreV1().ConfigMaps("members").List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		assert.GreaterOrEqual(t, int64(len(list.Items)), requests-failures, "every acknowledged write is there")
	})

	for _, tn := range tenants {
		t.Run(tn.release+"/uninstall", func(t *testing.T) {
			tn.helm.run(ctx, t, "uninstall", tn.release, "-n", tn.namespace, "--wait", "--timeout", "3m")
			assertOnlyDataLeft(ctx, t, tn)
		})
	}
}

// TestTenantEveryVersion installs a tenant master of every supported minor (make e2e-versions),
// one after the other, and checks that it serves its version.
func TestTenantEveryVersion(t *testing.T) {
	if os.Getenv("TAOWA_E2E_VERSIONS") == "" {
		t.Skip("run by make e2e-versions, which builds every supported version")
	}
	root := repoRoot()
	h := helmFor(t, 3)
	for _, r := range versions.Builtin().Releases() {
		t.Run(r.Kubernetes.String(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			ns := testNamespace(ctx, t, "e2e-every-"+strings.ReplaceAll(r.Kubernetes.String(), ".", "-"))
			tn := tenant{release: "every", namespace: ns, version: r.Kubernetes.String(), helm: h}
			start := time.Now()
			h.run(ctx, t, "install", tn.release, filepath.Join(root, "charts", "tenant-master"), "-n", tn.namespace,
				"--set", "kubernetesVersion="+tn.version, "--post-renderer", filepath.Join(root, "bin", "taowa-postrender"), "--wait", "--timeout", "5m")
			t.Logf("%s installed and Ready after %.1fs", tn.version, time.Since(start).Seconds())
			info, err := tenantClient(ctx, t, tn).Discovery().ServerVersion()
			require.NoError(t, err)
			assert.Equal(t, "v"+tn.version, info.GitVersion)
			h.run(ctx, t, "uninstall", tn.release, "-n", tn.namespace, "--wait")
		})
	}
}

// TestTenantMasterServerSideDryRun sends what the chart renders through the post-renderer, for
// each supported minor whose images are loaded, to the meta cluster's apiserver as a server-side
// dry run: every object must pass the real API's validation and admission.
func TestTenantMasterServerSideDryRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ns := testNamespace(ctx, t, "e2e-dryrun")
	root := repoRoot()
	h := helmFor(t, 3)
	for _, version := range []string{"1.37.2", "1.36.3", "1.31.13"} {
		t.Run(version, func(t *testing.T) {
			rendered := h.run(ctx, t, "template", "tenant-dry", filepath.Join(root, "charts", "tenant-master"),
				"--namespace", ns, "--set", "kubernetesVersion="+version, "--set", "etcd.replicas=3", "--set", "apiserver.replicas=2",
				"--post-renderer", filepath.Join(root, "bin", "taowa-postrender"))
			cmd := exec.CommandContext(ctx, env.kubectl, "--kubeconfig", env.kubeconfig, "apply", "--dry-run=server", "-n", ns, "-f", "-")
			cmd.Stdin = strings.NewReader(rendered)
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "server-side dry run:\n%s", out)
			assert.Contains(t, string(out), "statefulset.apps/tenant-dry-etcd created (server dry run)")
			assert.Contains(t, string(out), "job.batch/tenant-dry-pki created (server dry run)")
		})
	}
}

// tenantClient reaches the tenant's apiserver through its Service's ClusterIP (the host routes
// the meta cluster's Service range), with the admin kubeconfig from the Secret the PKI hook wrote,
// once /readyz answers there (a tenant created some other way than `helm install --wait`, e.g. an
// Argo CD sync, may still be starting).
func tenantClient(ctx context.Context, t testing.TB, tn tenant) *kubernetes.Clientset {
	t.Helper()
	var client *kubernetes.Clientset
	waitUntil(ctx, t, tn.release+" serving certificate names the ClusterIP", func(ctx context.Context) (bool, error) {
		var err error
		if client, err = newTenantClient(ctx, tn); err != nil {
			return false, err
		}
		_, err = client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil, err
	})
	return client
}

// newTenantClient verifies the apiserver's certificate against the ClusterIP itself.
func newTenantClient(ctx context.Context, tn tenant) (*kubernetes.Clientset, error) {
	cfg, err := tenantRESTConfig(ctx, tn)
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

// tenantRESTConfig is the admin kubeconfig with the Service's ClusterIP as the server.
func tenantRESTConfig(ctx context.Context, tn tenant) (*rest.Config, error) {
	return tenantRESTConfigAs(ctx, tn, pki.SecretAdminKubeconfig)
}

// tenantRESTConfigAs reaches the tenant through the Service's ClusterIP with the credentials of
// the release's Secret <release>-<secret>: a kubeconfig, or a client certificate.
func tenantRESTConfigAs(ctx context.Context, tn tenant, secret string) (*rest.Config, error) {
	name := tn.release + "-" + secret
	s, err := env.client.CoreV1().Secrets(tn.namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	var cfg *rest.Config
	if kubeconfig, ok := s.Data[pki.KeyKubeconfig]; ok {
		if cfg, err = clientcmd.RESTConfigFromKubeConfig(kubeconfig); err != nil {
			return nil, err
		}
	} else {
		ca, err := env.client.CoreV1().Secrets(tn.namespace).Get(ctx, tn.release+"-"+pki.SecretCA, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		cfg = &rest.Config{TLSClientConfig: rest.TLSClientConfig{
			CertData: s.Data[corev1.TLSCertKey], KeyData: s.Data[corev1.TLSPrivateKeyKey], CAData: ca.Data[pki.KeyCA]}}
	}
	svc, err := env.client.CoreV1().Services(tn.namespace).Get(ctx, tn.release+"-apiserver", metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	cfg.Host = fmt.Sprintf("https://%s:%d", svc.Spec.ClusterIP, svc.Spec.Ports[0].Port)
	return cfg, nil
}

// assertOnlyDataLeft checks that uninstall removed every workload, Service, ServiceAccount and
// hook object and kept the tenant's data: its Secrets, etcd and snapshot volumes (the documented,
// data-safe choice); then it removes those with the commands NOTES.txt gives.
func assertOnlyDataLeft(ctx context.Context, t *testing.T, tn tenant) {
	t.Helper()
	ns := tn.namespace
	c := env.client
	cfg, err := clientcmd.BuildConfigFromFlags("", env.kubeconfig)
	require.NoError(t, err)
	meta, err := metadata.NewForConfig(cfg)
	require.NoError(t, err)
	for _, gvr := range []schema.GroupVersionResource{
		{Group: "apps", Version: "v1", Resource: "deployments"},
		{Group: "apps", Version: "v1", Resource: "statefulsets"},
		{Group: "batch", Version: "v1", Resource: "jobs"},
		{Version: "v1", Resource: "services"},
		{Version: "v1", Resource: "serviceaccounts"},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"},
		{Group: "policy", Version: "v1", Resource: "poddisruptionbudgets"},
		{Group: "networking.k8s.io", Version: "v1", Resource: "networkpolicies"},
	} {
		list, err := meta.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		for _, item := range list.Items {
			if gvr.Resource == "serviceaccounts" && item.Name == "default" {
				continue
			}
			t.Errorf("uninstall left %s %s", gvr.Resource, item.Name)
		}
	}
	waitUntil(ctx, t, tn.release+" Pods gone", func(ctx context.Context) (bool, error) {
		pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		return err == nil && len(pods.Items) == 0, err
	})

	secrets, err := c.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{LabelSelector: pki.LabelRelease + "=" + tn.release})
	require.NoError(t, err)
	assert.Len(t, secrets.Items, 16, "the PKI Secrets are kept")
	pvcSelector := "app.kubernetes.io/instance=" + tn.release + ",app.kubernetes.io/component in (etcd,etcd-snapshots)"
	pvcs, err := c.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{LabelSelector: pvcSelector})
	require.NoError(t, err)
	var kept []string
	for _, p := range pvcs.Items {
		kept = append(kept, p.Name)
	}
	want := []string{tn.release + "-etcd-snapshots"}
	for i := range tn.etcdMembers() {
		want = append(want, fmt.Sprintf("data-%s-etcd-%d", tn.release, i))
	}
	assert.ElementsMatch(t, want, kept, "each etcd member's volume and the snapshot volume are kept")

	kubectl(t, "-n", ns, "delete", "secret", "-l", pki.LabelRelease+"="+tn.release)
	kubectl(t, "-n", ns, "delete", "pvc", "-l", pvcSelector, "--wait")
	all, err := c.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	for _, s := range all.Items {
		assert.Contains(t, []string{objectStoreSecret, snapshotKeySecret}, s.Name, "only the test's own Secrets are left")
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// etcdHealth is what taowa status --health says of the tenant's etcd members.
func etcdHealth(ctx context.Context, t *testing.T, tn tenant) []tenants.EtcdMember {
	t.Helper()
	out, err := taowaCLI{namespace: tn.namespace}.run(ctx, "status", tn.release, "--health", "-o", "json")
	require.NoError(t, err, out)
	var health tenants.Health
	require.NoError(t, json.Unmarshal([]byte(out), &health))
	return health.Etcd
}

// vpaModule holds the VerticalPodAutoscaler's CRD (deploy/vpa-v1-crd-gen.yaml), fetched from the
// Go module proxy at hack/versions.env's VPA_VERSION (hack/lint-chart.sh validates against it too).
func vpaModule() string {
	return "k8s.io/autoscaler/vertical-pod-autoscaler@" + toolVersions()["VPA_VERSION"]
}

// applyVPACRD installs the real VerticalPodAutoscaler CRD for the test, and removes it after
// (which deletes every VerticalPodAutoscaler with it).
func applyVPACRD(ctx context.Context, t *testing.T) {
	t.Helper()
	out, err := exec.CommandContext(ctx, "go", "mod", "download", "-json", vpaModule()).Output()
	require.NoError(t, err, "go mod download %s", vpaModule())
	var module struct{ Dir string }
	require.NoError(t, json.Unmarshal(out, &module))
	crd := filepath.Join(module.Dir, "deploy", "vpa-v1-crd-gen.yaml")
	kubectl(t, "apply", "--server-side", "-f", crd)
	t.Cleanup(func() { kubectl(t, "delete", "--ignore-not-found", "--wait=false", "-f", crd) })
	kubectl(t, "wait", "--for=condition=Established", "--timeout=60s", "crd/verticalpodautoscalers.autoscaling.k8s.io")
}

// assertVPAsTargetTheComponents: the chart's VerticalPodAutoscalers, accepted by the real CRD's
// schema, each name an existing workload of the tenant and that workload's component container.
func assertVPAsTargetTheComponents(ctx context.Context, t *testing.T, tn tenant) {
	t.Helper()
	var list struct {
		Items []struct {
			Metadata struct{ Name string }
			Spec     struct {
				TargetRef struct {
					APIVersion string `json:"apiVersion"`
					Kind, Name string
				} `json:"targetRef"`
				UpdatePolicy   struct{ UpdateMode string } `json:"updatePolicy"`
				ResourcePolicy struct {
					ContainerPolicies []struct{ ContainerName string } `json:"containerPolicies"`
				} `json:"resourcePolicy"`
			}
		}
	}
	require.NoError(t, json.Unmarshal([]byte(kubectl(t, "get", "verticalpodautoscalers", "-n", tn.namespace, "-o", "json")), &list))
	targets := map[string]string{}
	for _, v := range list.Items {
		ref := v.Spec.TargetRef
		assert.Equal(t, "apps/v1", ref.APIVersion, v.Metadata.Name)
		assert.Equal(t, "Off", v.Spec.UpdatePolicy.UpdateMode, "%s: recommendations only by default", v.Metadata.Name)
		var containers []corev1.Container
		switch ref.Kind {
		case "StatefulSet":
			s, err := env.client.AppsV1().StatefulSets(tn.namespace).Get(ctx, ref.Name, metav1.GetOptions{})
			require.NoError(t, err, "%s targets a StatefulSet that does not exist", v.Metadata.Name)
			containers = s.Spec.Template.Spec.Containers
		case "Deployment":
			d, err := env.client.AppsV1().Deployments(tn.namespace).Get(ctx, ref.Name, metav1.GetOptions{})
			require.NoError(t, err, "%s targets a Deployment that does not exist", v.Metadata.Name)
			containers = d.Spec.Template.Spec.Containers
		default:
			t.Errorf("%s targets a %s", v.Metadata.Name, ref.Kind)
		}
		require.Len(t, v.Spec.ResourcePolicy.ContainerPolicies, 1, v.Metadata.Name)
		container := v.Spec.ResourcePolicy.ContainerPolicies[0].ContainerName
		assert.True(t, slices.ContainsFunc(containers, func(c corev1.Container) bool { return c.Name == container }),
			"%s: %s %s has no container %s", v.Metadata.Name, ref.Kind, ref.Name, container)
		targets[ref.Kind+"/"+ref.Name] = container
	}
	assert.Equal(t, map[string]string{
		"StatefulSet/" + tn.release + "-etcd":              "etcd",
		"Deployment/" + tn.release + "-apiserver":          "kube-apiserver",
		"Deployment/" + tn.release + "-controller-manager": "kube-controller-manager",
		"Deployment/" + tn.release + "-scheduler":          "kube-scheduler",
	}, targets)
}
