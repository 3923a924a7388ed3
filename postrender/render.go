// Package postrender applies the version table to a rendered tenant-master chart: it rewrites
// the command line of every control-plane container the chart marked (see contract.go) into
// what the target Kubernetes version accepts. It is a Helm post-renderer: manifests in, manifests
// out. Documents it does not rewrite pass through byte for byte.
package postrender

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/taowa/taowa/versions"
)

// Options configure Render.
type Options struct {
	// Versions is the version table to apply; nil means versions.Builtin().
	Versions *versions.Table
}

// Render reads a multi-document YAML stream of rendered manifests from in and writes it to out
// with the command lines of the marked control-plane containers rewritten for the target
// Kubernetes version. On error it writes nothing.
func Render(in io.Reader, out io.Writer, opts Options) error {
	table := opts.Versions
	if table == nil {
		table = versions.Builtin()
	}
	input, err := io.ReadAll(in)
	if err != nil {
		return fmt.Errorf("read manifests: %w", err)
	}
	docs := splitDocuments(input)
	var workloads []*workload
	for i, doc := range docs {
		w, err := parseWorkload(doc)
		if err != nil {
			return fmt.Errorf("document %d%s: %w", i+1, sourceOf(doc), err)
		}
		if w != nil {
			w.doc = i
			workloads = append(workloads, w)
		}
	}
	target, err := targetVersion(workloads)
	if err != nil {
		return err
	}
	if _, err := table.ForMinor(target.MajorMinor()); err != nil {
		return fmt.Errorf("%s %s: %w", AnnotationKubernetesVersion, target, err)
	}

	for _, w := range workloads {
		body, err := w.rewrite(table, target)
		if err != nil {
			return fmt.Errorf("%s: %w", w, err)
		}
		docs[w.doc] = append(header(docs[w.doc]), body...)
	}
	_, err = out.Write(bytes.Join(docs, nil))
	return err
}

// targetVersion returns the one Kubernetes version the marked workloads state.
func targetVersion(workloads []*workload) (versions.Version, error) {
	var target versions.Version
	var statedBy *workload
	for _, w := range workloads {
		raw, ok, err := w.annotation(AnnotationKubernetesVersion)
		if !ok && err == nil {
			raw, ok, err = w.ownAnnotation(AnnotationKubernetesVersion) // etcd, rendered before
		}
		if err != nil {
			return versions.Version{}, fmt.Errorf("%s: %w", w, err)
		}
		if !ok {
			continue
		}
		v, err := versions.Parse(raw)
		if err != nil {
			return versions.Version{}, fmt.Errorf("%s: annotation %s: %w", w, AnnotationKubernetesVersion, err)
		}
		if statedBy != nil && v != target {
			return versions.Version{}, fmt.Errorf("%s states Kubernetes %s but %s states %s; all control-plane workloads must agree",
				statedBy, target, w, v)
		}
		target, statedBy = v, w
	}
	if statedBy == nil {
		return versions.Version{}, errors.New("no version found: no Deployment or StatefulSet with label " + LabelComponent +
			" carries annotation " + AnnotationKubernetesVersion + " on its Pod template")
	}
	return target, nil
}

// workload is a marked control-plane Deployment or StatefulSet, decoded for rewriting.
type workload struct {
	doc         int
	kind, name  string
	component   versions.Component
	object      map[string]any // the whole document, as JSON decodes it
	annotations map[string]any // of the Pod template
}

func (w *workload) String() string { return w.kind + " " + w.name }

// parseWorkload returns the marked workload in doc, or nil when doc is anything else.
func parseWorkload(doc []byte) (*workload, error) {
	document, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return nil, fmt.Errorf("not YAML: %w", err)
	}
	if !bytes.HasPrefix(document, []byte("{")) {
		return nil, nil // empty, a list or a scalar: no workload; Helm and the API server judge it
	}
	var object map[string]any
	decoder := json.NewDecoder(bytes.NewReader(document))
	decoder.UseNumber() // keep numbers as written, not as float64
	if err := decoder.Decode(&object); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	kind, _ := object["kind"].(string)
	if object["apiVersion"] != "apps/v1" || (kind != "Deployment" && kind != "StatefulSet") {
		return nil, nil
	}
	template := nested(object, "spec", "template", "metadata")
	component, marked := nested(template, "labels")[LabelComponent]
	if !marked {
		return nil, nil
	}
	metadata := nested(object, "metadata")
	name, _ := metadata["name"].(string)
	if namespace, _ := metadata["namespace"].(string); namespace != "" {
		name = namespace + "/" + name
	}
	w := &workload{kind: kind, name: name, object: object, annotations: nested(template, "annotations")}
	componentName, _ := component.(string)
	w.component = versions.Component(componentName)
	if !slices.Contains(versions.Components(), w.component) {
		return nil, fmt.Errorf("%s: label %s=%q is not one of %v", w, LabelComponent, fmt.Sprint(component), versions.Components())
	}
	return w, nil
}

// annotation returns a Pod template annotation; ok is false when it is absent.
func (w *workload) annotation(key string) (value string, ok bool, err error) {
	return stringAnnotation(w.annotations, key)
}

// ownAnnotation reads an annotation of the workload object itself, not of its Pod template.
func (w *workload) ownAnnotation(key string) (value string, ok bool, err error) {
	return stringAnnotation(nested(w.object, "metadata", "annotations"), key)
}

func stringAnnotation(annotations map[string]any, key string) (value string, ok bool, err error) {
	raw, ok := annotations[key]
	if !ok {
		return "", false, nil
	}
	value, isString := raw.(string)
	if !isString {
		return "", true, fmt.Errorf("annotation %s is %v, not a string", key, raw)
	}
	return value, true, nil
}

// nested returns the object at path, or nil when there is none.
func nested(object map[string]any, path ...string) map[string]any {
	for _, key := range path {
		object, _ = object[key].(map[string]any)
	}
	return object
}

// rewrite returns the workload as YAML with its marked container's command line rewritten.
func (w *workload) rewrite(table *versions.Table, target versions.Version) ([]byte, error) {
	profile, err := table.Profile(w.component, target)
	if err != nil {
		return nil, err
	}
	containerName, _, err := w.annotation(AnnotationContainer)
	if err != nil {
		return nil, err
	}
	if containerName == "" {
		return nil, fmt.Errorf("annotation %s is missing on the Pod template", AnnotationContainer)
	}
	container, err := w.container(containerName)
	if err != nil {
		return nil, err
	}
	commandLine, err := containerCommandLine(container)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", containerName, err)
	}
	rawExtra, _, err := w.annotation(AnnotationExtraArgs)
	if err != nil {
		return nil, err
	}
	extra, err := parseExtraArgs(rawExtra)
	if err != nil {
		return nil, fmt.Errorf("annotation %s: %w", AnnotationExtraArgs, err)
	}
	flags, err := buildFlags(profile, commandLine.flags, extra)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", containerName, err)
	}
	commandLine.set(container, flags)
	if err := w.setImageTag(container, profile); err != nil {
		return nil, fmt.Errorf("container %s: %w", containerName, err)
	}
	if w.component == versions.Etcd {
		// The Kubernetes version moves from the Pod template to the StatefulSet, where it
		// restarts nothing and a second render still finds it.
		delete(w.annotations, AnnotationKubernetesVersion)
		w.annotations[AnnotationEtcdVersion] = profile.Version.String()
		metadata := nested(w.object, "metadata")
		annotations, _ := metadata["annotations"].(map[string]any)
		if annotations == nil {
			annotations = map[string]any{}
			metadata["annotations"] = annotations
		}
		annotations[AnnotationKubernetesVersion] = target.String()
	}
	document, err := json.Marshal(w.object)
	if err != nil {
		return nil, err
	}
	return yaml.JSONToYAML(document)
}

// setImageTag tags the container's image for the profile's version when the chart asks for it.
func (w *workload) setImageTag(container map[string]any, profile versions.Profile) error {
	set, _, err := w.annotation(AnnotationSetImageTag)
	if err != nil || set == "" || set == "false" {
		return err
	}
	if set != "true" {
		return fmt.Errorf("annotation %s is %q; want true or false", AnnotationSetImageTag, set)
	}
	image, _ := container["image"].(string)
	if image == "" || strings.Contains(image, "@") {
		return fmt.Errorf("annotation %s: image %q has no repository to tag, or is pinned by digest", AnnotationSetImageTag, image)
	}
	repository := image
	if colon := strings.LastIndexByte(image, ':'); colon > strings.LastIndexByte(image, '/') {
		repository = image[:colon] // a colon before the last slash is a registry port
	}
	container["image"] = repository + ":" + profile.ImageTag()
	return nil
}

// container returns the named container of the Pod template.
func (w *workload) container(name string) (map[string]any, error) {
	containers, _ := nested(w.object, "spec", "template", "spec")["containers"].([]any)
	for _, c := range containers {
		if container, ok := c.(map[string]any); ok && container["name"] == name {
			return container, nil
		}
	}
	return nil, fmt.Errorf("annotation %s names container %q, which the Pod template does not have", AnnotationContainer, name)
}
