package v1alpha1

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const crdFile = "../../../charts/taowa-operator/crds/clusters.taowa.io.yaml"

type schemaNode struct {
	Type       string                `json:"type"`
	Properties map[string]schemaNode `json:"properties"`
	Items      *schemaNode           `json:"items"`
}

type crd struct {
	Spec struct {
		Group string `json:"group"`
		Names struct {
			Kind   string `json:"kind"`
			Plural string `json:"plural"`
		} `json:"names"`
		Versions []struct {
			Name   string `json:"name"`
			Schema struct {
				OpenAPIV3Schema schemaNode `json:"openAPIV3Schema"`
			} `json:"schema"`
		} `json:"versions"`
	} `json:"spec"`
}

// The CRD serves exactly the fields of the Go types, so nothing the operator writes is pruned
// and nothing a user may set is ignored. Types of other packages (resources, conditions) are
// leaves: the CRD describes them its own way.
func TestCRDMatchesTheGoTypes(t *testing.T) {
	raw, err := os.ReadFile(filepath.FromSlash(crdFile))
	if err != nil {
		t.Fatal(err)
	}
	var c crd
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	if c.Spec.Group != GroupVersion.Group || c.Spec.Names.Kind != Kind || c.Spec.Names.Plural != Resource.Resource ||
		len(c.Spec.Versions) != 1 || c.Spec.Versions[0].Name != GroupVersion.Version {
		t.Fatalf("CRD names %+v do not match %s, %s", c.Spec, Resource, Kind)
	}
	root := c.Spec.Versions[0].Schema.OpenAPIV3Schema
	for _, part := range []string{"spec", "status"} {
		field, _ := reflect.TypeFor[Cluster]().FieldByName(strings.ToUpper(part[:1]) + part[1:])
		compare(t, part, field.Type, root.Properties[part])
	}
}

func compare(t *testing.T, path string, goType reflect.Type, node schemaNode) {
	t.Helper()
	for goType.Kind() == reflect.Pointer {
		goType = goType.Elem()
	}
	if goType.Kind() == reflect.Slice {
		if node.Type != "array" || node.Items == nil {
			t.Errorf("%s: a list in Go, %q in the CRD", path, node.Type)
			return
		}
		compare(t, path+"[]", goType.Elem(), *node.Items)
		return
	}
	if goType.Kind() != reflect.Struct || goType.PkgPath() != reflect.TypeFor[Cluster]().PkgPath() {
		return
	}
	var goFields []string
	for i := range goType.NumField() {
		name, _, _ := strings.Cut(goType.Field(i).Tag.Get("json"), ",")
		goFields = append(goFields, name)
		child, ok := node.Properties[name]
		if !ok {
			t.Errorf("%s.%s: in the Go type, not in the CRD", path, name)
			continue
		}
		compare(t, path+"."+name, goType.Field(i).Type, child)
	}
	for name := range node.Properties {
		if !slices.Contains(goFields, name) {
			t.Errorf("%s.%s: in the CRD, not in the Go type", path, name)
		}
	}
}
