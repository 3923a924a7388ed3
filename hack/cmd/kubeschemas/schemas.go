package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// The conversion from the Kubernetes OpenAPI v2 document (api/openapi-spec/swagger.json) to
// kubeconform's schemas. It does what openapi2jsonschema --strict --standalone does for
// yannh/kubernetes-json-schema, the schemas kubeconform downloads by default:
//
//   - one schema per group/version/kind, named as kubeconform looks it up;
//   - standalone: no reference leaves the file. Instead of inlining every reference (which cannot
//     end for recursive types), each file carries the definitions it reaches under "definitions",
//     and its "$ref"s ("#/definitions/<name>", as in swagger.json) point there;
//   - strict: every object schema with properties gets additionalProperties: false, so unknown
//     fields are errors, as the API server's strict field validation makes them;
//   - int-or-string becomes oneOf string/integer, and a resource.Quantity oneOf string/number,
//     the two forms the API server accepts (swagger.json calls both plain strings);
//   - apiVersion and kind are pinned with enums.
//
// Unlike openapi2jsonschema, optional fields are not made nullable: a rendered manifest has no
// reason to write `field: null`, and such a field is most likely a template bug.

const (
	definitionsPrefix = "#/definitions/"
	quantityName      = "io.k8s.apimachinery.pkg.api.resource.Quantity"
	gvkExtension      = "x-kubernetes-group-version-kind"
)

// GroupVersionKind is one entry of a definition's x-kubernetes-group-version-kind.
type GroupVersionKind struct {
	Group   string `json:"group"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
}

// APIVersion is the apiVersion a manifest of this kind states: "v1" or "apps/v1".
func (g GroupVersionKind) APIVersion() string {
	if g.Group == "" {
		return g.Version
	}
	return g.Group + "/" + g.Version
}

// FileName is the name kubeconform's {{ .ResourceKind }}{{ .KindSuffix }}.json gives the schema
// of this kind: lower-case kind, the group's first DNS label (none for the core group), version.
// Deployment apps/v1 is deployment-apps-v1.json; Role rbac.authorization.k8s.io/v1 is
// role-rbac-v1.json; Service v1 is service-v1.json.
func (g GroupVersionKind) FileName() string {
	name := strings.ToLower(g.Kind)
	if g.Group != "" {
		label, _, _ := strings.Cut(g.Group, ".")
		name += "-" + strings.ToLower(label)
	}
	return name + "-" + strings.ToLower(g.Version) + ".json"
}

// Schema is a JSON schema or OpenAPI definition as decoded by encoding/json.
type Schema = map[string]any

// Generate converts swagger.json's definitions into kubeconform schemas, keyed by file name.
func Generate(definitions map[string]Schema) (map[string]Schema, error) {
	files := map[string]Schema{}
	from := map[string]string{} // file name -> definition it was made from
	for _, name := range slices.Sorted(maps.Keys(definitions)) {
		def := definitions[name]
		gvks, err := groupVersionKinds(def)
		if err != nil {
			return nil, fmt.Errorf("definition %s: %w", name, err)
		}
		if len(gvks) == 0 {
			continue // not a top-level kind
		}
		reached, err := reachable(definitions, def)
		if err != nil {
			return nil, fmt.Errorf("definition %s: %w", name, err)
		}
		for _, gvk := range gvks {
			file := gvk.FileName()
			if other, ok := from[file]; ok {
				return nil, fmt.Errorf("definitions %s and %s both map to %s", other, name, file)
			}
			from[file] = name

			root := convert(name, def)
			pinEnum(root, "apiVersion", gvk.APIVersion())
			pinEnum(root, "kind", gvk.Kind)
			if len(reached) > 0 {
				defs := Schema{}
				for _, ref := range reached {
					defs[ref] = convert(ref, definitions[ref])
				}
				root["definitions"] = defs
			}
			files[file] = root
		}
	}
	return files, nil
}

// groupVersionKinds reads a definition's x-kubernetes-group-version-kind, if any.
func groupVersionKinds(def Schema) ([]GroupVersionKind, error) {
	raw, ok := def[gvkExtension]
	if !ok {
		return nil, nil
	}
	data, err := json.Marshal(raw)
	if err != nil {
		return nil, err
	}
	var gvks []GroupVersionKind
	if err := json.Unmarshal(data, &gvks); err != nil {
		return nil, fmt.Errorf("%s: %w", gvkExtension, err)
	}
	for _, g := range gvks {
		if g.Kind == "" || g.Version == "" {
			return nil, fmt.Errorf("%s: entry %+v lacks a kind or version", gvkExtension, g)
		}
	}
	return gvks, nil
}

// reachable lists, sorted, the definitions the schema refers to directly or through others.
func reachable(definitions map[string]Schema, schema Schema) ([]string, error) {
	seen := map[string]bool{}
	var visit func(node any) error
	visit = func(node any) error {
		switch n := node.(type) {
		case map[string]any:
			if ref, ok := n["$ref"].(string); ok {
				name, found := strings.CutPrefix(ref, definitionsPrefix)
				if !found {
					return fmt.Errorf("reference %q is not to %s...", ref, definitionsPrefix)
				}
				target, ok := definitions[name]
				if !ok {
					return fmt.Errorf("reference to unknown definition %s", name)
				}
				if !seen[name] {
					seen[name] = true
					if err := visit(target); err != nil {
						return err
					}
				}
			}
			for _, key := range slices.Sorted(maps.Keys(n)) {
				if err := visit(n[key]); err != nil {
					return err
				}
			}
		case []any:
			for _, v := range n {
				if err := visit(v); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := visit(schema); err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(seen)), nil
}

// convert returns the kubeconform form of the named definition, leaving the input untouched.
func convert(name string, def Schema) Schema {
	if name == quantityName {
		return withDescription(oneOfTypes("string", "number"), def)
	}
	return convertSchema(def)
}

// convertSchema rewrites one schema and, recursively, its subschemas.
func convertSchema(s Schema) Schema {
	if s["format"] == "int-or-string" {
		return withDescription(oneOfTypes("string", "integer"), s)
	}
	out := Schema{}
	for key, value := range s {
		switch {
		case strings.HasPrefix(key, "x-"):
			// OpenAPI extensions mean nothing to a JSON schema validator.
		case key == "properties":
			props := Schema{}
			for prop, sub := range value.(map[string]any) {
				props[prop] = convertAny(sub)
			}
			out[key] = props
		case key == "items" || key == "additionalProperties" || key == "not":
			out[key] = convertAny(value)
		case key == "allOf" || key == "anyOf" || key == "oneOf":
			var list []any
			for _, sub := range value.([]any) {
				list = append(list, convertAny(sub))
			}
			out[key] = list
		default:
			out[key] = value
		}
	}
	if _, ok := out["properties"]; ok && s["x-kubernetes-preserve-unknown-fields"] != true {
		if _, set := out["additionalProperties"]; !set {
			out["additionalProperties"] = false
		}
	}
	return out
}

// convertAny converts a subschema; booleans (additionalProperties: true) pass unchanged.
func convertAny(v any) any {
	if s, ok := v.(map[string]any); ok {
		return convertSchema(s)
	}
	return v
}

func oneOfTypes(types ...string) Schema {
	var list []any
	for _, t := range types {
		list = append(list, Schema{"type": t})
	}
	return Schema{"oneOf": list}
}

func withDescription(s, from Schema) Schema {
	if d, ok := from["description"]; ok {
		s["description"] = d
	}
	return s
}

// pinEnum restricts a string property of a converted root schema to one value.
func pinEnum(root Schema, property, value string) {
	props, _ := root["properties"].(map[string]any)
	if prop, ok := props[property].(map[string]any); ok {
		prop["enum"] = []any{value}
	}
}
