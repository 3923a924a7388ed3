package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestFileName(t *testing.T) {
	for _, tc := range []struct {
		gvk  GroupVersionKind
		want string
	}{
		{GroupVersionKind{"", "v1", "Service"}, "service-v1.json"},
		{GroupVersionKind{"apps", "v1", "Deployment"}, "deployment-apps-v1.json"},
		{GroupVersionKind{"networking.k8s.io", "v1", "NetworkPolicy"}, "networkpolicy-networking-v1.json"},
		{GroupVersionKind{"policy", "v1", "PodDisruptionBudget"}, "poddisruptionbudget-policy-v1.json"},
		{GroupVersionKind{"rbac.authorization.k8s.io", "v1", "Role"}, "role-rbac-v1.json"},
		{GroupVersionKind{"autoscaling", "v2", "HorizontalPodAutoscaler"}, "horizontalpodautoscaler-autoscaling-v2.json"},
	} {
		if got := tc.gvk.FileName(); got != tc.want {
			t.Errorf("%+v: FileName() = %q, want %q", tc.gvk, got, tc.want)
		}
	}
}

// definitions is a small swagger.json: a kind whose spec refers to a recursive type, an
// int-or-string, a Quantity and a map, plus a kind served under two group versions.
const definitions = `{
  "io.k8s.apimachinery.pkg.api.resource.Quantity": {"description": "q", "type": "string"},
  "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"description": "i", "format": "int-or-string", "type": "string"},
  "test.Node": {
    "type": "object",
    "properties": {"name": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#/definitions/test.Node"}}}
  },
  "test.Spec": {
    "type": "object",
    "required": ["port"],
    "properties": {
      "port": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.util.intstr.IntOrString", "description": "p"},
      "limits": {"type": "object", "additionalProperties": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity"}},
      "tree": {"$ref": "#/definitions/test.Node"},
      "raw": {"type": "object"}
    },
    "x-kubernetes-map-type": "atomic"
  },
  "test.Widget": {
    "type": "object",
    "properties": {
      "apiVersion": {"type": "string"},
      "kind": {"type": "string"},
      "spec": {"$ref": "#/definitions/test.Spec"}
    },
    "x-kubernetes-group-version-kind": [{"group": "widgets.example.com", "version": "v1", "kind": "Widget"}]
  },
  "test.Options": {
    "type": "object",
    "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"}},
    "x-kubernetes-group-version-kind": [{"group": "", "version": "v1", "kind": "Options"}, {"group": "apps", "version": "v1", "kind": "Options"}]
  }
}`

func parse(t *testing.T, text string) map[string]Schema {
	t.Helper()
	var defs map[string]Schema
	if err := json.Unmarshal([]byte(text), &defs); err != nil {
		t.Fatal(err)
	}
	return defs
}

// roundTrip makes a Go literal comparable with decoded JSON.
func roundTrip(t *testing.T, v any) any {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestGenerate(t *testing.T) {
	defs := parse(t, definitions)
	files, err := Generate(defs)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for name := range files {
		names = append(names, name)
	}
	if want := []string{"options-apps-v1.json", "options-v1.json", "widget-widgets-v1.json"}; !sameSet(names, want) {
		t.Fatalf("files %v, want %v", names, want)
	}

	widget := roundTrip(t, files["widget-widgets-v1.json"]).(map[string]any)
	want := roundTrip(t, Schema{
		"type":                 "object",
		"additionalProperties": false,
		"properties": Schema{
			"apiVersion": Schema{"type": "string", "enum": []string{"widgets.example.com/v1"}},
			"kind":       Schema{"type": "string", "enum": []string{"Widget"}},
			"spec":       Schema{"$ref": "#/definitions/test.Spec"},
		},
		"definitions": Schema{
			"io.k8s.apimachinery.pkg.api.resource.Quantity": Schema{
				"description": "q", "oneOf": []Schema{{"type": "string"}, {"type": "number"}},
			},
			"io.k8s.apimachinery.pkg.util.intstr.IntOrString": Schema{
				"description": "i", "oneOf": []Schema{{"type": "string"}, {"type": "integer"}},
			},
			"test.Node": Schema{
				"type":                 "object",
				"additionalProperties": false,
				"properties": Schema{
					"name":     Schema{"type": "string"},
					"children": Schema{"type": "array", "items": Schema{"$ref": "#/definitions/test.Node"}},
				},
			},
			"test.Spec": Schema{
				"type":                 "object",
				"additionalProperties": false,
				"required":             []string{"port"},
				"properties": Schema{
					"port":   Schema{"$ref": "#/definitions/io.k8s.apimachinery.pkg.util.intstr.IntOrString", "description": "p"},
					"limits": Schema{"type": "object", "additionalProperties": Schema{"$ref": "#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity"}},
					"tree":   Schema{"$ref": "#/definitions/test.Node"},
					// No properties: an object that holds anything stays open.
					"raw": Schema{"type": "object"},
				},
			},
		},
	})
	if !reflect.DeepEqual(widget, want) {
		got, _ := json.MarshalIndent(widget, "", "  ")
		t.Errorf("widget schema:\n%s", got)
	}

	// One definition, two group versions: each file pins its own apiVersion.
	for file, apiVersion := range map[string]string{"options-v1.json": "v1", "options-apps-v1.json": "apps/v1"} {
		props := files[file]["properties"].(Schema)
		if got := props["apiVersion"].(Schema)["enum"]; !reflect.DeepEqual(got, []any{apiVersion}) {
			t.Errorf("%s: apiVersion enum %v, want [%s]", file, got, apiVersion)
		}
		if _, ok := files[file]["definitions"]; ok {
			t.Errorf("%s: definitions written though nothing is referenced", file)
		}
	}

	// The input is left as it was (Generate copies what it changes).
	if !reflect.DeepEqual(defs, parse(t, definitions)) {
		t.Error("Generate modified its input")
	}
}

func TestGenerateErrors(t *testing.T) {
	for name, text := range map[string]string{
		"unknown reference": `{"a.A": {"type": "object", "properties": {"b": {"$ref": "#/definitions/missing"}},
			"x-kubernetes-group-version-kind": [{"group": "", "version": "v1", "kind": "A"}]}}`,
		"external reference": `{"a.A": {"type": "object", "properties": {"b": {"$ref": "other.json#/x"}},
			"x-kubernetes-group-version-kind": [{"group": "", "version": "v1", "kind": "A"}]}}`,
		"same file twice": `{
			"a.A": {"type": "object", "x-kubernetes-group-version-kind": [{"group": "x.one.io", "version": "v1", "kind": "A"}]},
			"b.A": {"type": "object", "x-kubernetes-group-version-kind": [{"group": "x.two.io", "version": "v1", "kind": "A"}]}}`,
		"no kind": `{"a.A": {"type": "object", "x-kubernetes-group-version-kind": [{"group": "", "version": "v1"}]}}`,
	} {
		if _, err := Generate(parse(t, text)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestKubernetesSpec converts the real swagger.json when the module cache has it (it does after
// hack/lint-chart.sh has run) and checks the kinds the chart renders.
func TestKubernetesSpec(t *testing.T) {
	cache, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Skip("go env GOMODCACHE:", err)
	}
	spec := filepath.Join(strings.TrimSpace(string(cache)), "k8s.io", "kubernetes@v1.37.2", "api", "openapi-spec", "swagger.json")
	if _, err := os.Stat(spec); err != nil {
		t.Skip("k8s.io/kubernetes@v1.37.2 is not in the module cache")
	}
	defs, err := readDefinitions(spec)
	if err != nil {
		t.Fatal(err)
	}
	files, err := Generate(defs)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"deployment-apps-v1.json", "statefulset-apps-v1.json", "service-v1.json",
		"serviceaccount-v1.json", "job-batch-v1.json", "role-rbac-v1.json", "rolebinding-rbac-v1.json",
		"networkpolicy-networking-v1.json", "poddisruptionbudget-policy-v1.json"} {
		schema, ok := files[name]
		if !ok {
			t.Errorf("no %s", name)
			continue
		}
		if schema["additionalProperties"] != false {
			t.Errorf("%s: root admits unknown fields", name)
		}
		data, err := json.Marshal(schema)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), "int-or-string") || strings.Contains(string(data), `"x-kubernetes-`) {
			t.Errorf("%s: OpenAPI formats or extensions left over", name)
		}
	}
}

func sameSet(a, b []string) bool {
	set := map[string]int{}
	for _, s := range a {
		set[s]++
	}
	for _, s := range b {
		set[s]--
	}
	for _, n := range set {
		if n != 0 {
			return false
		}
	}
	return len(a) == len(b)
}
