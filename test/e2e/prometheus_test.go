//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/taowa/taowa/hack/metacluster"
)

// The Prometheus Operator's ServiceMonitor CRD, generated from the operator's API types by
// hack/build-tools.sh monitoring-crds, and Prometheus built from its module by
// hack/build-tools.sh prometheus.
const serviceMonitorCRD = "monitoring.coreos.com_servicemonitors.yaml"

func monitoringTool(t *testing.T, name, file string) string {
	t.Helper()
	key := map[string]string{"prometheus": "PROMETHEUS_VERSION", "monitoring-crds": "PROMETHEUS_OPERATOR_VERSION"}[name]
	path := filepath.Join(env.meta.CacheDir, "tools", name, toolVersions()[key], file)
	require.FileExists(t, path, "built by hack/build-tools.sh %s", name)
	return path
}

// applyServiceMonitorCRD installs the real ServiceMonitor CRD, so that the API server checks the
// chart's ServiceMonitor against the operator's own schema (and prunes what it does not know).
func applyServiceMonitorCRD(t *testing.T) {
	t.Helper()
	crd := monitoringTool(t, "monitoring-crds", serviceMonitorCRD)
	kubectl(t, "apply", "--server-side", "-f", crd)
	t.Cleanup(func() { kubectl(t, "delete", "--ignore-not-found", "--wait=false", "-f", crd) })
	kubectl(t, "wait", "--for=condition=Established", "--timeout=60s", "crd/servicemonitors.monitoring.coreos.com")
}

// serviceMonitor is the part of monitoring.coreos.com/v1 ServiceMonitor the chart uses.
type serviceMonitor struct {
	Metadata metav1.ObjectMeta `json:"metadata"`
	Spec     struct {
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []struct {
			Port      string `json:"port"`
			Scheme    string `json:"scheme"`
			Interval  string `json:"interval"`
			TLSConfig *struct {
				ServerName         string          `json:"serverName"`
				InsecureSkipVerify bool            `json:"insecureSkipVerify"`
				CA                 secretKeyHolder `json:"ca"`
				Cert               secretKeyHolder `json:"cert"`
				KeySecret          *secretKey      `json:"keySecret"`
			} `json:"tlsConfig"`
		} `json:"endpoints"`
	} `json:"spec"`
}

type secretKeyHolder struct {
	Secret *secretKey `json:"secret"`
}

type secretKey struct{ Name, Key string }

// prometheusScrapes runs a real Prometheus in namespace monitoring, configured from the tenant's
// ServiceMonitor as the API server stored it the way the Prometheus Operator would configure it
// (endpoint-slice discovery in the ServiceMonitor's namespace, the Service's labels and the port's
// name kept, the referenced Secrets' keys copied next to Prometheus as TLS files), and returns
// its active targets once every one has been scraped.
func prometheusScrapes(ctx context.Context, t *testing.T, tn tenant, monitoring string) []prometheusTarget {
	t.Helper()
	var sm serviceMonitor
	require.NoError(t, json.Unmarshal([]byte(kubectl(t, "get", "servicemonitor", tn.release, "-n", tn.namespace, "-o", "json")), &sm))
	require.NotEmpty(t, sm.Spec.Endpoints, "the ServiceMonitor's endpoints")

	const tlsDir = "/etc/prometheus/tls"
	tlsFiles := map[string][]byte{}
	tlsFile := func(ref *secretKey) string {
		require.NotNil(t, ref, "a TLS reference of ServiceMonitor %s", sm.Metadata.Name)
		s, err := env.client.CoreV1().Secrets(tn.namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		require.NoError(t, err, "the ServiceMonitor's Secret %s", ref.Name)
		require.Contains(t, s.Data, ref.Key, "Secret %s", ref.Name)
		file := ref.Name + "_" + ref.Key
		tlsFiles[file] = s.Data[ref.Key]
		return tlsDir + "/" + file
	}
	var jobs []map[string]any
	for i, ep := range sm.Spec.Endpoints {
		relabel := []map[string]any{}
		for k, v := range sm.Spec.Selector.MatchLabels {
			relabel = append(relabel, map[string]any{"action": "keep", "regex": regexp.QuoteMeta(v),
				"source_labels": []string{"__meta_kubernetes_service_label_" + prometheusLabelName(k)}})
		}
		relabel = append(relabel,
			map[string]any{"action": "keep", "regex": regexp.QuoteMeta(ep.Port), "source_labels": []string{"__meta_kubernetes_endpointslice_port_name"}},
			map[string]any{"action": "replace", "target_label": "pod", "source_labels": []string{"__meta_kubernetes_pod_name"}})
		job := map[string]any{
			"job_name":        fmt.Sprintf("serviceMonitor/%s/%s/%d", tn.namespace, sm.Metadata.Name, i),
			"scrape_interval": ep.Interval,
			"scheme":          ep.Scheme,
			"kubernetes_sd_configs": []map[string]any{{"role": "endpointslice",
				"namespaces": map[string]any{"names": []string{tn.namespace}}}},
			"relabel_configs": relabel,
		}
		if tls := ep.TLSConfig; tls != nil {
			config := map[string]any{"cert_file": tlsFile(tls.Cert.Secret), "key_file": tlsFile(tls.KeySecret),
				"insecure_skip_verify": tls.InsecureSkipVerify}
			if tls.ServerName != "" {
				config["server_name"] = tls.ServerName
			}
			if tls.CA.Secret != nil {
				config["ca_file"] = tlsFile(tls.CA.Secret)
			}
			job["tls_config"] = config
		}
		jobs = append(jobs, job)
	}
	config, err := yaml.Marshal(map[string]any{"scrape_configs": jobs})
	require.NoError(t, err)

	// Prometheus discovers the tenant's Services and endpoint slices with a Role of its namespace.
	_, err = env.client.CoreV1().ServiceAccounts(monitoring).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "prometheus"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = env.client.RbacV1().Roles(tn.namespace).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "e2e-prometheus"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"services", "endpoints", "pods"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"get", "list", "watch"}},
		}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = env.client.RbacV1().RoleBindings(tn.namespace).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "e2e-prometheus"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "e2e-prometheus"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "prometheus", Namespace: monitoring}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		env.client.RbacV1().RoleBindings(tn.namespace).Delete(context.Background(), "e2e-prometheus", metav1.DeleteOptions{})
		env.client.RbacV1().Roles(tn.namespace).Delete(context.Background(), "e2e-prometheus", metav1.DeleteOptions{})
	})
	_, err = env.client.CoreV1().Secrets(monitoring).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "prometheus"},
		Data: map[string][]byte{"prometheus.yml": config}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = env.client.CoreV1().Secrets(monitoring).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "prometheus-tls"},
		Data: tlsFiles}, metav1.CreateOptions{})
	require.NoError(t, err)

	image := "localhost/taowa-e2e/prometheus:" + toolVersions()["PROMETHEUS_VERSION"]
	require.NoError(t, env.meta.BuildAndImport(metacluster.BinaryImage(image, monitoringTool(t, "prometheus", "prometheus"), "/usr/local/bin/prometheus", "65532")))
	pod, err := env.client.CoreV1().Pods(monitoring).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "prometheus"},
		Spec: corev1.PodSpec{
			ServiceAccountName: "prometheus",
			Containers: []corev1.Container{{
				Name: "prometheus", Image: image, ImagePullPolicy: corev1.PullNever,
				Args: []string{"--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"},
				VolumeMounts: []corev1.VolumeMount{
					{Name: "config", MountPath: "/etc/prometheus/prometheus.yml", SubPath: "prometheus.yml"},
					{Name: "tls", MountPath: tlsDir},
					{Name: "data", MountPath: "/prometheus"},
				},
			}},
			Volumes: []corev1.Volume{
				{Name: "config", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "prometheus"}}},
				{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "prometheus-tls"}}},
				{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		env.client.CoreV1().Pods(monitoring).Delete(context.Background(), pod.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	})

	var targets []prometheusTarget
	waitUntil(ctx, t, "Prometheus has scraped every target of the ServiceMonitor", func(ctx context.Context) (bool, error) {
		var body struct {
			Data struct {
				ActiveTargets []prometheusTarget `json:"activeTargets"`
			} `json:"data"`
		}
		if err := prometheusAPI(ctx, monitoring, "/api/v1/targets", nil, &body); err != nil {
			return false, nil // not serving yet
		}
		targets = body.Data.ActiveTargets
		for _, tg := range targets {
			if tg.Health == "unknown" {
				return false, nil
			}
		}
		return len(targets) >= len(sm.Spec.Endpoints), nil
	})
	return targets
}

// prometheusTarget is one entry of Prometheus' /api/v1/targets.
type prometheusTarget struct {
	ScrapePool string            `json:"scrapePool"`
	ScrapeURL  string            `json:"scrapeUrl"`
	Labels     map[string]string `json:"labels"`
	Health     string            `json:"health"`
	LastError  string            `json:"lastError"`
}

// series names a scraped series by its job and Pod.
type series struct{ job, pod string }

// awaitSeries is the result of query once it has n series. A target can be up before its
// scrape's samples answer queries (CI once found the apiserver's target up and no series).
func awaitSeries(ctx context.Context, t *testing.T, monitoring, query string, n int) map[series]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var values map[series]string
	waitUntil(ctx, t, fmt.Sprintf("%d series of %s", n, query), func(ctx context.Context) (bool, error) {
		var err error
		if values, err = prometheusQuery(ctx, monitoring, query); err != nil || len(values) == n {
			return err == nil, err
		}
		return false, fmt.Errorf("%d series: %v", len(values), values)
	})
	return values
}

// prometheusQuery is an instant query's value of each series, by job and pod.
func prometheusQuery(ctx context.Context, monitoring, query string) (map[series]string, error) {
	var body struct {
		Data struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := prometheusAPI(ctx, monitoring, "/api/v1/query", map[string]string{"query": query}, &body); err != nil {
		return nil, fmt.Errorf("query %s: %w", query, err)
	}
	values := map[series]string{}
	for _, r := range body.Data.Result {
		values[series{r.Metric["job"], r.Metric["pod"]}] = fmt.Sprint(r.Value[1])
	}
	return values, nil
}

// prometheusAPI calls Prometheus' HTTP API through the meta apiserver's Pod proxy.
func prometheusAPI(ctx context.Context, monitoring, path string, params map[string]string, into any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	raw, err := env.client.CoreV1().Pods(monitoring).ProxyGet("http", "prometheus", "9090", path, params).DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("prometheus %s: %w", path, err)
	}
	return json.Unmarshal(raw, into)
}

// prometheusLabelName is Prometheus' name for a Kubernetes label in discovery meta labels.
func prometheusLabelName(k string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		return '_'
	}, k)
}

// assertPrometheusScrapesTenant: Prometheus, with the ServiceMonitor's least-privilege certificate
// and from the namespace the NetworkPolicy admits, scrapes every component: the apiservers, the
// etcd members, the controller-manager and the scheduler.
func assertPrometheusScrapesTenant(ctx context.Context, t *testing.T, tn tenant, monitoring string) {
	t.Helper()
	targets := prometheusScrapes(ctx, t, tn, monitoring)
	pods := map[string]bool{}
	for _, tg := range targets {
		assert.Equal(t, "up", tg.Health, "%s (%s): %s", tg.ScrapeURL, tg.ScrapePool, tg.LastError)
		pods[tg.Labels["pod"]] = true
	}
	components, err := env.client.CoreV1().Pods(tn.namespace).List(ctx, metav1.ListOptions{
		LabelSelector: "app.kubernetes.io/instance=" + tn.release + ",app.kubernetes.io/component in (etcd,kube-apiserver,kube-controller-manager,kube-scheduler)"})
	require.NoError(t, err)
	require.Len(t, components.Items, 4, "the tenant's component Pods")
	for _, p := range components.Items {
		assert.True(t, pods[p.Name], "Pod %s is a scraped target (targets: %v)", p.Name, pods)
	}
	assert.Len(t, targets, len(components.Items), "one target per component Pod")

	// The scraped series are the components' own, each from its ServiceMonitor endpoint's job
	// (the chart lists the apiserver, etcd, then the controller-manager and the scheduler).
	job := func(endpoint int) string {
		return fmt.Sprintf("serviceMonitor/%s/%s/%d", tn.namespace, tn.release, endpoint)
	}
	for _, q := range []struct {
		query, job string
		series     int
	}{
		{"sum by (job, pod) (apiserver_request_total)", job(0), 1},
		{"etcd_server_has_leader", job(1), 1},
		// Each is its own leader: one replica each.
		{`leader_election_master_status{name=~"kube-controller-manager|kube-scheduler"}`, job(2), 2},
	} {
		values := awaitSeries(ctx, t, monitoring, q.query, q.series)
		for s, v := range values {
			assert.Equal(t, q.job, s.job, "%s of %s", q.query, s.pod)
			assert.NotEqual(t, "0", v, "%s of %s", q.query, s.pod)
		}
	}
	t.Logf("Prometheus scraped %d targets of %s with the ServiceMonitor's certificate", len(targets), tn.release)
	assertDashboardQueriesEvaluate(ctx, t, monitoring)
}

// assertDashboardQueriesEvaluate: every query of the operator chart's Grafana dashboard, with its
// variables set to match everything, is one the real Prometheus parses and evaluates.
func assertDashboardQueriesEvaluate(ctx context.Context, t *testing.T, monitoring string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(), "charts", "taowa-operator", "dashboards", "taowa-tenants.json"))
	require.NoError(t, err)
	var dashboard struct {
		Templating struct {
			List []struct{ Name, Query string }
		}
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	require.NoError(t, json.Unmarshal(data, &dashboard))
	variables := strings.NewReplacer(`"$namespace"`, `".*"`, `"$cluster"`, `".*"`)
	queries := 0
	for _, p := range dashboard.Panels {
		for _, target := range p.Targets {
			var body struct{ Status string }
			err := prometheusAPI(ctx, monitoring, "/api/v1/query", map[string]string{"query": variables.Replace(target.Expr)}, &body)
			if assert.NoError(t, err, "panel %q: %s", p.Title, target.Expr) {
				assert.Equal(t, "success", body.Status, "panel %q: %s", p.Title, target.Expr)
			}
			queries++
		}
	}
	for _, v := range dashboard.Templating.List {
		if expr, ok := strings.CutPrefix(v.Query, "label_values("); ok {
			// label_values(series, label) is Grafana's: the series is the query Prometheus sees.
			series, _, _ := strings.Cut(strings.TrimSuffix(expr, ")"), ", ")
			var body struct{ Status string }
			require.NoError(t, prometheusAPI(ctx, monitoring, "/api/v1/query", map[string]string{"query": variables.Replace(series)}, &body),
				"variable %s: %s", v.Name, v.Query)
			queries++
		}
	}
	t.Logf("Prometheus evaluated the dashboard's %d queries", queries)
}
