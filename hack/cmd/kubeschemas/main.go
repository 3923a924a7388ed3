// Command kubeschemas writes the JSON schemas kubeconform validates Kubernetes manifests with,
// generated offline from the OpenAPI document of a Kubernetes release in the Go module cache, so
// that `kubeconform -strict` needs no download.
//
//	kubeschemas -kubernetes-version v1.37.2 -out ~/.cache/taowa/kubeschemas/v1.37.2
//	kubeconform -strict -schema-location '<out>/{{ .ResourceKind }}{{ .KindSuffix }}.json' ...
//
// It reads api/openapi-spec/swagger.json of k8s.io/kubernetes@<version> (fetched into the module
// cache by `go mod download` if it is not there yet), or the file -spec names. The output
// directory is written whole or not at all: the schemas go to a temporary directory that is
// renamed to -out at the end, replacing an older one.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

func main() {
	version := flag.String("kubernetes-version", "", "Kubernetes version whose API to describe, e.g. v1.37.2")
	spec := flag.String("spec", "", "OpenAPI v2 document to read instead of k8s.io/kubernetes@<version>'s swagger.json")
	out := flag.String("out", "", "directory to write the schemas to (replaced if it exists)")
	var crds []string
	flag.Func("crd", "a YAML file of CustomResourceDefinitions whose kinds get schemas too (repeatable)", func(path string) error {
		crds = append(crds, path)
		return nil
	})
	flag.Parse()
	if *out == "" || (*version == "" && *spec == "") || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: kubeschemas (-kubernetes-version vX.Y.Z | -spec swagger.json) [-crd FILE ...] -out DIR")
		os.Exit(2)
	}
	if err := run(*version, *spec, crds, *out); err != nil {
		fmt.Fprintln(os.Stderr, "kubeschemas:", err)
		os.Exit(1)
	}
}

func run(version, spec string, crds []string, out string) error {
	if spec == "" {
		dir, err := moduleDir("k8s.io/kubernetes", version)
		if err != nil {
			return err
		}
		spec = filepath.Join(dir, "api", "openapi-spec", "swagger.json")
	}
	definitions, err := readDefinitions(spec)
	if err != nil {
		return err
	}
	files, err := Generate(definitions)
	if err != nil {
		return fmt.Errorf("%s: %w", spec, err)
	}
	custom, err := readCRDs(crds)
	if err != nil {
		return err
	}
	for name, schema := range custom {
		if _, ok := files[name]; ok {
			return fmt.Errorf("a CustomResourceDefinition's %s is one of Kubernetes' own kinds", name)
		}
		files[name] = schema
	}
	if err := writeDir(out, files); err != nil {
		return err
	}
	fmt.Printf("kubeschemas: %d schemas from %s and %d from %d CustomResourceDefinition files in %s\n",
		len(files)-len(custom), spec, len(custom), len(crds), out)
	return nil
}

// moduleDir returns where the module cache holds module@version, downloading it if need be.
func moduleDir(module, version string) (string, error) {
	cmd := exec.Command("go", "mod", "download", "-json", module+"@"+version)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	// `go mod download -json` reports a failure in its JSON output, with a non-zero exit.
	output, runErr := cmd.Output()
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(output, &info); err != nil || info.Error != "" || runErr != nil || info.Dir == "" {
		return "", fmt.Errorf("go mod download %s@%s: %v %s %s", module, version, runErr, info.Error, stderr.Bytes())
	}
	return info.Dir, nil
}

func readDefinitions(path string) (map[string]Schema, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Swagger     string            `json:"swagger"`
		Definitions map[string]Schema `json:"definitions"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if doc.Swagger != "2.0" || len(doc.Definitions) == 0 {
		return nil, fmt.Errorf("%s: not an OpenAPI v2 document with definitions", path)
	}
	return doc.Definitions, nil
}

// writeDir writes the files into a new directory and puts it in place of dir.
func writeDir(dir string, files map[string]Schema) error {
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".tmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	for name, schema := range files {
		data, err := json.MarshalIndent(schema, "", "  ") // map keys sorted: reproducible output
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(tmp, name), append(data, '\n'), 0o644); err != nil {
			return err
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return os.Rename(tmp, dir)
}
