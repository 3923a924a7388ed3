package operator

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/taowa/taowa/release/tenants"
	"github.com/taowa/taowa/release/tenants/tenantstest"
)

// The operator's ClusterRole lets it apply every object a tenant-master release has, with every
// option on (but the helm test Pod: the operator runs no helm test), and create every Role the chart grants (Kubernetes refuses to let a subject create
// a Role that grants more than it holds).
func TestOperatorRBACCoversTheTenantMasterChart(t *testing.T) {
	tenantChart := tenantstest.ChartPath()
	rendered, err := tenants.Render(context.Background(), tenants.RenderOptions{
		ChartPath: tenantChart, Name: "tc", Namespace: "tenants",
		Values: map[string]any{
			"serviceMonitor":        map[string]any{"enabled": true},
			"verticalPodAutoscaler": map[string]any{"enabled": true},
			"network":               map[string]any{"eni": map[string]any{"enabled": true, "vpcID": "vpc-1", "subnetID": "subnet-1"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	granted := operatorRules(t, filepath.Join(filepath.Dir(tenantChart), "taowa-operator"))
	allows := func(group, resource, verb string) bool {
		return slices.ContainsFunc(granted, func(r rbacv1.PolicyRule) bool {
			return len(r.ResourceNames) == 0 && slices.Contains(r.APIGroups, group) &&
				slices.Contains(r.Resources, resource) && slices.Contains(r.Verbs, verb)
		})
	}
	objects := decode(t, rendered)
	if len(objects) < 20 {
		t.Fatalf("%d objects rendered; the test reads the wrong thing", len(objects))
	}
	for _, obj := range objects {
		gvk := obj.GroupVersionKind()
		resource := plural(gvk.Kind)
		verbs := []string{"get", "list", "watch", "create", "delete", "update", "patch"}
		if obj.GetAnnotations()["helm.sh/hook"] == "test" { // helm test's; the operator runs none
			continue
		}
		for _, verb := range verbs {
			if !allows(gvk.Group, resource, verb) {
				t.Errorf("%s %s: the operator may not %s %s.%s", gvk.Kind, obj.GetName(), verb, resource, gvk.Group)
			}
		}
		if gvk.Kind != "Role" {
			continue
		}
		var role rbacv1.Role
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &role); err != nil {
			t.Fatal(err)
		}
		for _, rule := range role.Rules {
			for _, group := range rule.APIGroups {
				for _, resource := range rule.Resources {
					for _, verb := range rule.Verbs {
						if !allows(group, resource, verb) {
							t.Errorf("Role %s grants %s on %s.%s, which the operator lacks", role.Name, verb, resource, group)
						}
					}
				}
			}
		}
	}
}

// operatorRole renders charts/taowa-operator with values and returns the role bound to the
// operator (not the leader election's): its kind, namespace and rules.
func operatorRole(t *testing.T, chartPath string, values map[string]any) (kind, namespace string, rules []rbacv1.PolicyRule) {
	t.Helper()
	ch, err := loader.Load(chartPath)
	if err != nil {
		t.Fatal(err)
	}
	install := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	install.ReleaseName, install.Namespace = "taowa-operator", "taowa-system"
	install.DryRun, install.ClientOnly, install.Replace = true, true, true
	rel, err := install.Run(ch, values)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, obj := range decode(t, []byte(rel.Manifest)) {
		if (obj.GetKind() == "ClusterRole" || obj.GetKind() == "Role") && obj.GetName() == "taowa-operator" {
			var role rbacv1.ClusterRole
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &role); err != nil {
				t.Fatal(err)
			}
			kind, namespace, rules = obj.GetKind(), obj.GetNamespace(), role.Rules
			found++
		}
	}
	if found != 1 {
		t.Fatalf("charts/taowa-operator renders %d roles named taowa-operator, want 1", found)
	}
	return kind, namespace, rules
}

func operatorRules(t *testing.T, chartPath string) []rbacv1.PolicyRule {
	t.Helper()
	_, _, rules := operatorRole(t, chartPath, nil)
	return rules
}

// What the operator may do is exactly the list its README documents, and it may do it only in
// the namespace it watches when it is given one.
func TestOperatorRBACIsTheDocumentedList(t *testing.T) {
	all := []string{"get", "list", "watch", "create", "update", "patch", "delete"}
	documented := []rbacv1.PolicyRule{
		{APIGroups: []string{"taowa.io"}, Resources: []string{"clusters"}, Verbs: []string{"get", "list", "watch", "patch", "update"}},
		{APIGroups: []string{"taowa.io"}, Resources: []string{"clusters/status"}, Verbs: []string{"get", "patch", "update"}},
		{APIGroups: []string{""}, Resources: []string{"secrets", "persistentvolumeclaims"}, Verbs: all},
		{APIGroups: []string{""}, Resources: []string{"configmaps", "services", "serviceaccounts"}, Verbs: all},
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch", "patch"}},
		{APIGroups: []string{""}, Resources: []string{"pods/proxy"}, Verbs: []string{"get"}},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments", "statefulsets"}, Verbs: all},
		{APIGroups: []string{"apps"}, Resources: []string{"replicasets"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: all},
		{APIGroups: []string{"batch"}, Resources: []string{"cronjobs"}, Verbs: all},
		{APIGroups: []string{"policy"}, Resources: []string{"poddisruptionbudgets"}, Verbs: all},
		{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"networkpolicies"}, Verbs: all},
		{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"roles", "rolebindings"}, Verbs: all},
		{APIGroups: []string{"autoscaling.k8s.io"}, Resources: []string{"verticalpodautoscalers"}, Verbs: all},
		{APIGroups: []string{"monitoring.coreos.com"}, Resources: []string{"servicemonitors"}, Verbs: all},
	}
	chart := filepath.Join(filepath.Dir(tenantstest.ChartPath()), "taowa-operator")
	kind, _, rules := operatorRole(t, chart, nil)
	if kind != "ClusterRole" || !reflect.DeepEqual(rules, documented) {
		t.Errorf("watching every namespace: a %s with\n%+v\nwant a ClusterRole with the documented\n%+v", kind, rules, documented)
	}
	kind, namespace, rules := operatorRole(t, chart, map[string]any{"watchNamespace": "tenants"})
	if kind != "Role" || namespace != "tenants" || !reflect.DeepEqual(rules, documented) {
		t.Errorf("watchNamespace tenants: a %s in %q, want a Role in tenants with the documented rules", kind, namespace)
	}
}

func decode(t *testing.T, manifests []byte) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifests), 4096)
	for {
		obj := &unstructured.Unstructured{}
		err := decoder.Decode(&obj.Object)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if obj.Object != nil {
			out = append(out, obj)
		}
	}
}

// plural is the resource name of a kind the chart renders.
func plural(kind string) string {
	lower := strings.ToLower(kind)
	if strings.HasSuffix(lower, "y") {
		return strings.TrimSuffix(lower, "y") + "ies"
	}
	return lower + "s"
}
