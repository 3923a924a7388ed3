package command

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/taowa/taowa/release/tenants"
	"github.com/taowa/taowa/release/tenants/tenantstest"
)

// taowa runs the command line against cluster with the repository's chart.
func taowa(t *testing.T, cluster *tenantstest.Cluster, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := NewRoot(&out, &errOut, cluster)
	root.SetArgs(append(args, "--chart", tenantstest.ChartPath()))
	err = root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

func mustTaowa(t *testing.T, cluster *tenantstest.Cluster, args ...string) (stdout, stderr string) {
	t.Helper()
	stdout, stderr, err := taowa(t, cluster, args...)
	if err != nil {
		t.Fatalf("taowa %s: %v\nstderr:\n%s", strings.Join(args, " "), err, stderr)
	}
	return stdout, stderr
}

// decodeJSON decodes stdout strictly: it must be JSON and nothing else.
func decodeJSON(t *testing.T, stdout string, into any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(stdout))
	if err := dec.Decode(into); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
	}
	if dec.More() {
		t.Fatalf("stdout has more than one JSON value:\n%s", stdout)
	}
}

func requireKeys(t *testing.T, what string, object map[string]any, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if _, ok := object[k]; !ok {
			t.Errorf("%s lacks field %q: %v", what, k, object)
		}
	}
}

var releaseFields = []string{"name", "namespace", "revision", "status", "kubernetesVersion", "chart", "updated", "description"}

func TestCreateUpgradeHistoryJSON(t *testing.T) {
	c := tenantstest.NewCluster()
	mustTaowa(t, c, "create", "tenant-a", "-n", "tenant-a", "--version", "1.34.4", "--set", "apiserver.replicas=2")

	stdout, stderr := mustTaowa(t, c, "upgrade", "tenant-a", "-n", "tenant-a", "--to", "1.37.2", "-o", "json")
	var upgrade struct {
		Name, Namespace, From, To string
		Steps                     []struct {
			From, To string
			Revision int
		}
	}
	decodeJSON(t, stdout, &upgrade)
	if upgrade.From != "1.34.4" || upgrade.To != "1.37.2" || len(upgrade.Steps) != 3 || upgrade.Steps[1].To != "1.36.3" {
		t.Errorf("upgrade output %+v", upgrade)
	}
	if !strings.Contains(stderr, "step 2/3: upgrading tenant-a 1.35.4 -> 1.36.3") {
		t.Errorf("stderr lacks the progress of step 2:\n%s", stderr)
	}

	stdout, _ = mustTaowa(t, c, "history", "tenant-a", "-n", "tenant-a", "-o", "json")
	var history []map[string]any
	decodeJSON(t, stdout, &history)
	var got []string
	for _, r := range history {
		requireKeys(t, "history entry", r, "revision", "status", "kubernetesVersion", "chart", "updated", "description")
		got = append(got, r["kubernetesVersion"].(string))
	}
	if want := []string{"1.34.4", "1.35.4", "1.36.3", "1.37.2"}; !slices.Equal(got, want) {
		t.Errorf("history versions %v, want %v", got, want)
	}

	stdout, _ = mustTaowa(t, c, "status", "tenant-a", "-n", "tenant-a", "-o", "yaml")
	var status map[string]any
	if err := yaml.Unmarshal([]byte(stdout), &status); err != nil {
		t.Fatalf("status -o yaml: %v\n%s", err, stdout)
	}
	requireKeys(t, "status", status, append(releaseFields, "notes")...)
	if status["kubernetesVersion"] != "1.37.2" || status["revision"] != float64(4) {
		t.Errorf("status %v", status)
	}

	stdout, _ = mustTaowa(t, c, "history", "tenant-a", "-n", "tenant-a")
	if !strings.HasPrefix(stdout, "REVISION") || strings.Count(stdout, "\n") != 5 {
		t.Errorf("history table:\n%s", stdout)
	}
}

func TestListJSON(t *testing.T) {
	c := tenantstest.NewCluster()
	stdout, _ := mustTaowa(t, c, "list", "-A", "-o", "json")
	if strings.TrimSpace(stdout) != "[]" {
		t.Errorf("empty list: %q, want []", stdout)
	}
	mustTaowa(t, c, "create", "tenant-b", "-n", "ns-b", "--version", "1.36.3")
	mustTaowa(t, c, "create", "tenant-a", "-n", "ns-a")

	stdout, _ = mustTaowa(t, c, "list", "-A", "-o", "json")
	var list []map[string]any
	decodeJSON(t, stdout, &list)
	if len(list) != 2 {
		t.Fatalf("list: %v", list)
	}
	for _, r := range list {
		requireKeys(t, "list entry", r, releaseFields...)
	}
	if list[0]["name"] != "tenant-a" || list[0]["kubernetesVersion"] != "1.37.2" || list[1]["kubernetesVersion"] != "1.36.3" {
		t.Errorf("list %v: want tenant-a at the default 1.37.2, then tenant-b at 1.36.3", list)
	}

	stdout, _ = mustTaowa(t, c, "list", "-n", "ns-b")
	if !strings.Contains(stdout, "tenant-b") || strings.Contains(stdout, "tenant-a") {
		t.Errorf("list -n ns-b:\n%s", stdout)
	}
}

func TestUpgradeAllJSON(t *testing.T) {
	c := tenantstest.NewCluster()
	mustTaowa(t, c, "create", "tenant-a", "-n", "ns-a", "--version", "1.36.3")
	mustTaowa(t, c, "create", "tenant-b", "-n", "ns-b", "--version", "1.37.2")
	mustTaowa(t, c, "create", "tenant-c", "-n", "ns-c", "--version", "1.35.4")

	stdout, stderr := mustTaowa(t, c, "upgrade", "--all", "-A", "--to", "1.37.2", "--canary", "1", "--max-parallel", "2", "-o", "json")
	var summary struct {
		To      string  `json:"to"`
		Seconds float64 `json:"seconds"`
		Results []struct {
			Release struct{ Namespace, Name string } `json:"release"`
			Canary  bool                             `json:"canary"`
			Outcome string                           `json:"outcome"`
			From    string                           `json:"from"`
			Steps   int                              `json:"steps"`
		} `json:"results"`
	}
	decodeJSON(t, stdout, &summary)
	var got []string
	for _, r := range summary.Results {
		got = append(got, r.Release.Name+" "+r.Outcome+" "+r.From)
	}
	if want := []string{"tenant-a upgraded 1.36.3", "tenant-b already-at-version 1.37.2", "tenant-c upgraded 1.35.4"}; !slices.Equal(got, want) || !summary.Results[0].Canary || summary.Results[1].Canary {
		t.Errorf("fleet results %+v, want %v with tenant-a the canary", summary.Results, want)
	}
	if !strings.Contains(stderr, "ns-c/tenant-c: upgraded 1.35.4 -> 1.37.2") {
		t.Errorf("stderr lacks tenant-c's outcome:\n%s", stderr)
	}
}

func TestRefusalsChangeNothing(t *testing.T) {
	c := tenantstest.NewCluster()
	mustTaowa(t, c, "create", "tenant-a", "-n", "tenant-a", "--version", "1.35.4")
	for _, args := range [][]string{
		{"upgrade", "tenant-a", "-n", "tenant-a", "--to", "1.38.0"},
		{"upgrade", "tenant-a", "-n", "tenant-a", "--to", "1.34.4"},
		{"upgrade", "--to", "1.36.3"},
		{"upgrade", "tenant-a", "--all", "--to", "1.36.3"},
		{"upgrade", "tenant-a", "-n", "tenant-a", "--to", "1.36.3", "--canary", "1"},
		{"create", "tenant-b", "-n", "tenant-a", "--version", "1.30.1"},
		{"create", "tenant-b", "-n", "tenant-a", "--set", "kubernetesVersion=1.36.3"},
		{"rollback", "tenant-a", "x", "-n", "tenant-a"},
		{"list", "-o", "xml"},
	} {
		_, _, err := taowa(t, c, args...)
		t.Logf("taowa %s: %v", strings.Join(args, " "), err)
		if err == nil {
			t.Errorf("taowa %s: no error", strings.Join(args, " "))
		}
	}
	stdout, _ := mustTaowa(t, c, "list", "-A", "-o", "json")
	var list []tenants.ReleaseInfo
	decodeJSON(t, stdout, &list)
	if len(list) != 1 || list[0].Revision != 1 || list[0].KubernetesVersion != "1.35.4" {
		t.Errorf("after refusals: %+v, want tenant-a alone at revision 1", list)
	}
}

func TestRollbackKubeconfigDelete(t *testing.T) {
	c := tenantstest.NewCluster()
	mustTaowa(t, c, "create", "tenant-a", "-n", "tenant-a", "--version", "1.36.3")
	mustTaowa(t, c, "upgrade", "tenant-a", "-n", "tenant-a", "--to", "1.37.2")
	stdout, _ := mustTaowa(t, c, "rollback", "tenant-a", "-n", "tenant-a", "-o", "json")
	var info tenants.ReleaseInfo
	decodeJSON(t, stdout, &info)
	if info.Revision != 3 || info.KubernetesVersion != "1.36.3" {
		t.Errorf("after rollback: %+v", info)
	}

	kubeconfig := "apiVersion: v1\nkind: Config\nclusters:\n- name: tenant-a\n  cluster:\n    server: https://tenant-a-apiserver.tenant-a.svc.cluster.local:6443\n"
	clientset, _ := c.Clientset()
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "tenant-a-admin-kubeconfig", Namespace: "tenant-a"}, Data: map[string][]byte{"kubeconfig": []byte(kubeconfig)}}
	if _, err := clientset.CoreV1().Secrets("tenant-a").Create(context.Background(), secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	stdout, _ = mustTaowa(t, c, "kubeconfig", "tenant-a", "-n", "tenant-a")
	if stdout != kubeconfig {
		t.Errorf("kubeconfig: %q, want the Secret's", stdout)
	}
	stdout, _ = mustTaowa(t, c, "kubeconfig", "tenant-a", "-n", "tenant-a", "--server", "https://127.0.0.1:16443")
	if !strings.Contains(stdout, "server: https://127.0.0.1:16443") || !strings.Contains(stdout, "tls-server-name: tenant-a-apiserver.tenant-a.svc.cluster.local") {
		t.Errorf("kubeconfig --server:\n%s", stdout)
	}

	_, stderr := mustTaowa(t, c, "delete", "tenant-a", "-n", "tenant-a")
	if !strings.Contains(stderr, "kubectl -n tenant-a delete secret -l taowa.io/release=tenant-a") {
		t.Errorf("delete does not say how to remove the kept data:\n%s", stderr)
	}
	stdout, _ = mustTaowa(t, c, "list", "-A", "-o", "json")
	if strings.TrimSpace(stdout) != "[]" {
		t.Errorf("list after delete: %s", stdout)
	}
}
