package command

import (
	"context"
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/taowa/taowa/release/api/v1alpha1"
	"github.com/taowa/taowa/release/tenants/tenantstest"
)

func clusterObject(t *testing.T, c *tenantstest.Cluster, name string) *v1alpha1.Cluster {
	t.Helper()
	u, err := c.ClusterObjects().Resource(v1alpha1.Resource).Namespace("tenants").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var cluster v1alpha1.Cluster
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &cluster); err != nil {
		t.Fatal(err)
	}
	return &cluster
}

// A tenant master that a Cluster owns is changed through the Cluster, never behind the
// operator's back. (No operator runs here: the tests do not wait for one.)
func TestClusterOwnedTenantGoesThroughTheObject(t *testing.T) {
	c := tenantstest.NewCluster()
	_, stderr := mustTaowa(t, c, "create", "tc", "-n", "tenants", "--operator", "--version", "1.36.3", "--wait=false")
	if !strings.Contains(stderr, "created Cluster tenants/tc") {
		t.Errorf("create --operator said %q", stderr)
	}
	if got := clusterObject(t, c, "tc").Spec.KubernetesVersion; got != "1.36.3" {
		t.Fatalf("the Cluster asks for %q, want 1.36.3", got)
	}
	if _, _, err := taowa(t, c, "create", "tc2", "-n", "tenants", "--operator", "--set", "apiserver.replicas=2"); err == nil ||
		!strings.Contains(err.Error(), "do not go with --operator") {
		t.Errorf("create --operator --set: got %v, want a refusal", err)
	}

	// As the operator would have it: installed, status at 1.36.3.
	mustTaowa(t, c, "create", "tc", "-n", "tenants", "--version", "1.36.3")
	objects := c.ClusterObjects().Resource(v1alpha1.Resource).Namespace("tenants")
	owned := clusterObject(t, c, "tc")
	owned.Status.KubernetesVersion = "1.36.3"
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(owned)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := objects.Update(context.Background(), &unstructured.Unstructured{Object: u}, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	if _, _, err := taowa(t, c, "upgrade", "tc", "-n", "tenants", "--to", "1.38.0", "--wait=false"); err == nil || !strings.Contains(err.Error(), "1.38") {
		t.Errorf("upgrade to an unsupported version: got %v, want it refused before the spec changes", err)
	}
	if _, _, err := taowa(t, c, "upgrade", "tc", "-n", "tenants", "--to", "1.37.2", "--set", "apiserver.replicas=2", "--wait=false"); err == nil ||
		!strings.Contains(err.Error(), "change its spec instead") {
		t.Errorf("upgrade --set of a Cluster-owned tenant: got %v, want a refusal", err)
	}
	stdout, _ := mustTaowa(t, c, "upgrade", "tc", "-n", "tenants", "--to", "1.37.2", "--wait=false")
	if got := clusterObject(t, c, "tc").Spec.KubernetesVersion; got != "1.37.2" {
		t.Errorf("after upgrade the Cluster asks for %q, want 1.37.2", got)
	}
	if !strings.Contains(stdout, "Cluster tenants/tc asks for Kubernetes 1.37.2; the operator walks it from 1.36.3") {
		t.Errorf("upgrade --wait=false printed %q", stdout)
	}
	// The fleet goes through the Cluster too (with no operator here, without waiting).
	mustTaowa(t, c, "create", "plain", "-n", "tenants", "--version", "1.36.3")
	stdout, _ = mustTaowa(t, c, "upgrade", "--all", "-n", "tenants", "--to", "1.37.2", "--wait=false", "-o", "json")
	var summary struct {
		Results []struct {
			Release struct{ Name string } `json:"release"`
			Cluster bool                  `json:"cluster"`
			Outcome string                `json:"outcome"`
		} `json:"results"`
	}
	decodeJSON(t, stdout, &summary)
	if got := fmt.Sprint(summary.Results); got != "[{{plain} false upgraded} {{tc} true requested}]" {
		t.Errorf("upgrade --all: %s, want plain upgraded and tc requested through its Cluster", got)
	}
	stdout, _ = mustTaowa(t, c, "history", "tc", "-n", "tenants", "-o", "json")
	if strings.Count(stdout, `"revision"`) != 1 {
		t.Errorf("upgrade of a Cluster-owned tenant changed the release itself:\n%s", stdout)
	}
	if _, _, err := taowa(t, c, "rollback", "tc", "-n", "tenants"); err == nil || !strings.Contains(err.Error(), "owns this tenant master") {
		t.Errorf("rollback of a Cluster-owned tenant: got %v, want a refusal", err)
	}
	mustTaowa(t, c, "delete", "tc", "-n", "tenants")
	if _, err := objects.Get(context.Background(), "tc", metav1.GetOptions{}); err == nil {
		t.Error("delete left the Cluster object")
	}
	mustTaowa(t, c, "status", "tc", "-n", "tenants") // uninstalling is the operator's, after the final snapshot
}
