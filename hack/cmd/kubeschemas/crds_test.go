package main

import (
	"reflect"
	"strings"
	"testing"
)

const widgetCRD = `---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            metadata: {type: object}
            spec:
              type: object
              x-kubernetes-validations: [{rule: "true"}]
              properties:
                size: {x-kubernetes-int-or-string: true, anyOf: [{type: integer}, {type: string}]}
                extra:
                  type: object
                  x-kubernetes-preserve-unknown-fields: true
                  properties:
                    known: {type: string}
    - name: v1alpha1
      served: false
      storage: false
      schema:
        openAPIV3Schema: {type: object}
---
`

func TestGenerateCRDs(t *testing.T) {
	files, err := GenerateCRDs([]byte(widgetCRD))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 {
		t.Fatalf("got %d schemas, want the served version's alone: %v", len(files), files)
	}
	root, ok := files["widget-example-v1.json"]
	if !ok {
		t.Fatalf("no widget-example-v1.json in %v", files)
	}
	props := root["properties"].(map[string]any)
	assertEqual(t, "apiVersion", props["apiVersion"], Schema{"type": "string", "enum": []any{"example.com/v1"}})
	assertEqual(t, "kind", props["kind"], Schema{"type": "string", "enum": []any{"Widget"}})
	assertEqual(t, "root additionalProperties", root["additionalProperties"], false)
	spec := props["spec"].(Schema)
	assertEqual(t, "spec additionalProperties", spec["additionalProperties"], false)
	if _, ok := spec["x-kubernetes-validations"]; ok {
		t.Error("spec keeps an x- extension")
	}
	extra := spec["properties"].(map[string]any)["extra"].(Schema)
	if _, ok := extra["additionalProperties"]; ok {
		t.Errorf("x-kubernetes-preserve-unknown-fields made strict: %v", extra)
	}
}

func TestGenerateCRDsRefusesOtherKinds(t *testing.T) {
	_, err := GenerateCRDs([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"))
	if err == nil || !strings.Contains(err.Error(), "ConfigMap x is not a CustomResourceDefinition") {
		t.Errorf("got %v", err)
	}
}

func assertEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: got %#v, want %#v", what, got, want)
	}
}
