package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// customResourceDefinition is the part of an apiextensions.k8s.io/v1 CustomResourceDefinition
// that describes its kinds' schemas.
type customResourceDefinition struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Group string `json:"group"`
		Names struct {
			Kind string `json:"kind"`
		} `json:"names"`
		Versions []struct {
			Name   string `json:"name"`
			Served bool   `json:"served"`
			Schema struct {
				OpenAPIV3Schema Schema `json:"openAPIV3Schema"`
			} `json:"schema"`
		} `json:"versions"`
	} `json:"spec"`
}

// GenerateCRDs converts the schema of every served version of the CustomResourceDefinitions in
// the YAML documents into kubeconform schemas, as Generate does Kubernetes' own kinds (strict:
// unknown fields are errors, except under x-kubernetes-preserve-unknown-fields).
func GenerateCRDs(documents []byte) (map[string]Schema, error) {
	files := map[string]Schema{}
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(documents), 4096)
	for {
		var crd customResourceDefinition
		if err := decoder.Decode(&crd); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, err
		}
		if crd.Kind == "" {
			continue // an empty document
		}
		if crd.Kind != "CustomResourceDefinition" {
			return nil, fmt.Errorf("%s %s is not a CustomResourceDefinition", crd.Kind, crd.Metadata.Name)
		}
		for _, v := range crd.Spec.Versions {
			if !v.Served {
				continue
			}
			if v.Schema.OpenAPIV3Schema == nil {
				return nil, fmt.Errorf("CustomResourceDefinition %s: version %s has no openAPIV3Schema", crd.Metadata.Name, v.Name)
			}
			gvk := GroupVersionKind{Group: crd.Spec.Group, Version: v.Name, Kind: crd.Spec.Names.Kind}
			root := convertSchema(v.Schema.OpenAPIV3Schema)
			props, _ := root["properties"].(map[string]any)
			if props == nil {
				props = map[string]any{}
				root["properties"] = props
			}
			// The API server's own fields, which a CRD's schema need not spell out.
			for _, field := range []string{"apiVersion", "kind"} {
				if _, ok := props[field]; !ok {
					props[field] = Schema{"type": "string"}
				}
			}
			pinEnum(root, "apiVersion", gvk.APIVersion())
			pinEnum(root, "kind", gvk.Kind)
			files[gvk.FileName()] = root
		}
	}
	return files, nil
}

// readCRDs converts the CustomResourceDefinitions of each file.
func readCRDs(paths []string) (map[string]Schema, error) {
	files := map[string]Schema{}
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		schemas, err := GenerateCRDs(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		for name, s := range schemas {
			if _, dup := files[name]; dup {
				return nil, fmt.Errorf("%s: %s is defined twice", path, name)
			}
			files[name] = s
		}
	}
	return files, nil
}
