package command

import (
	"context"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/release"
	helmtime "helm.sh/helm/v3/pkg/time"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/taowa/taowa/release/api/v1alpha1"
	"github.com/taowa/taowa/release/tenants/tenantstest"
)

var eventFields = []string{"time", "source", "type", "reason", "object", "message", "count"}

// recordEvent records a Kubernetes Event in namespace tenants about kind/object, at at. Its
// message spans lines, as a kubelet's may.
func recordEvent(t *testing.T, c *tenantstest.Cluster, name, kind, object, reason string, at time.Time, resourceVersion string) {
	t.Helper()
	e := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: name, Namespace: "tenants", ResourceVersion: resourceVersion, CreationTimestamp: metav1.NewTime(at)},
		InvolvedObject: corev1.ObjectReference{Kind: kind, Name: object, Namespace: "tenants"},
		Type:           corev1.EventTypeNormal, Reason: reason, Message: reason + "  of\n" + object, Count: 1, LastTimestamp: metav1.NewTime(at),
	}
	if kind == v1alpha1.Kind {
		e.InvolvedObject.APIVersion = v1alpha1.GroupVersion.String()
	}
	client, _ := c.Clientset()
	if _, err := client.CoreV1().Events("tenants").Create(context.Background(), e, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestEvents(t *testing.T) {
	c := tenantstest.NewCluster()
	if _, _, err := taowa(t, c, "events", "tenant-a", "-n", "tenants"); err == nil || !strings.Contains(err.Error(), "events of tenant-a in namespace tenants") {
		t.Errorf("events of a tenant that does not exist: %v", err)
	}
	mustTaowa(t, c, "create", "tenant-a", "-n", "tenants")
	mustTaowa(t, c, "create", "tenant-ab", "-n", "tenants")
	for _, since := range []string{"-1h", "an hour"} {
		if _, _, err := taowa(t, c, "events", "tenant-a", "-n", "tenants", "--since", since); err == nil || !strings.Contains(err.Error(), "--since") {
			t.Errorf("--since %s: %v, want an error naming --since", since, err)
		}
	}
	now := time.Now().Truncate(time.Second)
	recordEvent(t, c, "tenant-a-etcd-0.1", "Pod", "tenant-a-etcd-0", "Started", now.Add(-2*time.Hour), "")
	recordEvent(t, c, "tenant-a-etcd-0.2", "Pod", "tenant-a-etcd-0", "Killing", now.Add(-10*time.Minute), "")
	recordEvent(t, c, "tenant-ab-etcd-0.1", "Pod", "tenant-ab-etcd-0", "Started", now.Add(-5*time.Minute), "")
	recordEvent(t, c, "tenant-a.1", v1alpha1.Kind, "tenant-a", "Ready", now.Add(time.Minute), "")

	stdout, _ := mustTaowa(t, c, "events", "tenant-a", "-n", "tenants", "-o", "json", "--since", "1h")
	var events []map[string]any
	decodeJSON(t, stdout, &events)
	var got []string
	for _, e := range events {
		requireKeys(t, "entry", e, eventFields...)
		got = append(got, e["source"].(string)+" "+e["object"].(string)+" "+e["reason"].(string))
	}
	want := []string{
		"event pod/tenant-a-etcd-0 Killing",
		"helm release/tenant-a Install",
		"hook job/tenant-a-pki HookSucceeded",
		"hook job/tenant-a-ready HookSucceeded",
		"event cluster/tenant-a Ready",
	}
	if !slices.Equal(got, want) {
		t.Errorf("events --since 1h:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if last := events[len(events)-1]; last["type"] != "Normal" || last["count"] != float64(1) || last["message"] != "Ready  of\ntenant-a" {
		t.Errorf("the Cluster's Event: %v", last)
	}

	stdout, _ = mustTaowa(t, c, "events", "tenant-a", "-n", "tenants", "-o", "yaml")
	if err := yaml.Unmarshal([]byte(stdout), &events); err != nil || len(events) != len(want)+1 || events[0]["reason"] != "Started" {
		t.Errorf("events -o yaml (%v), want every entry, the Event of two hours ago first:\n%s", err, stdout)
	}

	stdout, _ = mustTaowa(t, c, "events", "tenant-a", "-n", "tenants", "--since", "1h")
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(lines) != len(want)+1 || strings.Join(strings.Fields(lines[0]), " ") != "TIME TYPE SOURCE OBJECT REASON COUNT MESSAGE" ||
		strings.Join(strings.Fields(lines[len(lines)-1]), " ") != timestamp(now.Add(time.Minute))+" Normal event cluster/tenant-a Ready 1 Ready of tenant-a" {
		t.Errorf("events table, want a header and a row per entry, each on one line:\n%s", stdout)
	}

	// A tenant installed three hours ago, and nothing since.
	cfg, _ := c.ActionConfig("tenants")
	ab, err := cfg.Releases.Last("tenant-ab")
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Releases.Create(&release.Release{Name: "tenant-old", Namespace: "tenants", Version: 1, Chart: ab.Chart, Config: ab.Config,
		Info: &release.Info{Status: release.StatusDeployed, LastDeployed: helmtime.Time{Time: now.Add(-3 * time.Hour)}, Description: "Install complete"}}); err != nil {
		t.Fatal(err)
	}
	stdout, _ = mustTaowa(t, c, "events", "tenant-old", "-n", "tenants", "--since", "1h", "-o", "json")
	if strings.TrimSpace(stdout) != "[]" {
		t.Errorf("events --since 1h -o json of a tenant quiet for three hours: %s, want []", stdout)
	}
}

// writes passes on each Write; a watch makes one per entry.
type writes chan string

func (w writes) Write(p []byte) (int, error) {
	w <- string(p)
	return len(p), nil
}

// watchTaowa runs the command line until stop, which returns its error.
func watchTaowa(t *testing.T, c *tenantstest.Cluster, args ...string) (out writes, stop func() error) {
	t.Helper()
	out = make(writes, 100)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel) // when the test fails before stop
	root := NewRoot(out, io.Discard, c)
	root.SetArgs(append(args, "--chart", tenantstest.ChartPath()))
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	return out, func() error {
		cancel()
		return <-done
	}
}

func nextWrite(t *testing.T, out writes) string {
	t.Helper()
	select {
	case s := <-out:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("nothing written within 10s")
		return ""
	}
}

func TestEventsWatch(t *testing.T) {
	c := tenantstest.NewCluster()
	mustTaowa(t, c, "create", "tenant-a", "-n", "tenants")
	now := time.Now().Truncate(time.Second)
	recordEvent(t, c, "tenant-a-etcd-0.1", "Pod", "tenant-a-etcd-0", "Started", now, "10")
	stdout, _ := mustTaowa(t, c, "events", "tenant-a", "-n", "tenants", "-o", "json")
	var existing []map[string]any
	decodeJSON(t, stdout, &existing)

	out, stop := watchTaowa(t, c, "events", "tenant-a", "-n", "tenants", "--watch", "-o", "json")
	for i := range existing {
		var e map[string]any
		line := nextWrite(t, out)
		if err := json.Unmarshal([]byte(line), &e); err != nil || !strings.HasSuffix(line, "}\n") || strings.Count(line, "\n") != 1 {
			t.Fatalf("watch -o json wrote %q (%v), want one JSON object on a line", line, err)
		}
		if e["object"] != existing[i]["object"] || e["reason"] != existing[i]["reason"] {
			t.Errorf("entry %d: %v, want %v", i, e, existing[i])
		}
	}
	recordEvent(t, c, "tenant-a.1", v1alpha1.Kind, "tenant-a", "Ready", now.Add(time.Second), "11")
	var ready map[string]any
	if line := nextWrite(t, out); json.Unmarshal([]byte(line), &ready) != nil || ready["object"] != "cluster/tenant-a" || ready["reason"] != "Ready" {
		t.Errorf("watch -o json after a new Event: %q", line)
	}
	if err := stop(); err != nil {
		t.Errorf("watch ended by its context: %v, want no error", err)
	}

	out, stop = watchTaowa(t, c, "events", "tenant-a", "-n", "tenants", "-w")
	header := nextWrite(t, out)
	var rows []string
	for range len(existing) + 1 { // and the Cluster's Event
		rows = append(rows, nextWrite(t, out))
	}
	if !strings.HasPrefix(header, "TIME") || !strings.HasSuffix(header, "COUNT  MESSAGE\n") {
		t.Errorf("watch table header %q", header)
	}
	if last := rows[len(rows)-1]; strings.Join(strings.Fields(last), " ") != timestamp(now.Add(time.Second))+" Normal event cluster/tenant-a Ready 1 Ready of tenant-a" ||
		strings.Index(last, "cluster/tenant-a") != strings.Index(header, "OBJECT") {
		t.Errorf("watch table row %q under %q, want the Cluster's Event aligned under the header", last, header)
	}
	if err := stop(); err != nil {
		t.Errorf("watch table: %v", err)
	}

	out, stop = watchTaowa(t, c, "events", "tenant-a", "-n", "tenants", "-w", "-o", "yaml")
	doc := nextWrite(t, out)
	var first map[string]any
	if !strings.HasPrefix(doc, "---\n") || yaml.Unmarshal([]byte(doc), &first) != nil {
		t.Errorf("watch -o yaml, want a document per entry: %q", doc)
	}
	requireKeys(t, "watch -o yaml entry", first, eventFields...)
	if err := stop(); err != nil {
		t.Errorf("watch -o yaml: %v", err)
	}
}
