package postrender

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/taowa/taowa/versions"
	"github.com/taowa/taowa/versions/versionstest"
)

// BenchmarkPostRendererVersusKustomize compares what a release pays for its post-render with the
// common alternative, `kubectl kustomize` applying an equivalent patch (the same container command
// lines and images) to the same rendered input. Both run as processes, one per release, as Helm
// runs a post-renderer; they alternate within each iteration so that load on the machine hits
// both alike. The ratio is postrender time over kustomize time.
//
//	go test -run '^$' -bench PostRendererVersusKustomize -benchtime 20x ./postrender
func BenchmarkPostRendererVersusKustomize(b *testing.B) {
	kubectl := filepath.Join(versionstest.CacheDir(b), "k8s", "v"+versions.Default().String(), "bin", "kubectl")
	if _, err := os.Stat(kubectl); err != nil {
		b.Skipf("no kubectl %s: build it with hack/build-k8s.sh v%s", kubectl, versions.Default())
	}
	dir := b.TempDir()
	postrender := filepath.Join(dir, "taowa-postrender")
	if out, err := exec.Command("go", "build", "-o", postrender, "./cmd/taowa-postrender").CombinedOutput(); err != nil {
		b.Fatalf("build taowa-postrender: %v\n%s", err, out)
	}
	input := chartOutput(b, versions.Builtin().Default())
	var want bytes.Buffer
	if err := Render(bytes.NewReader(input), &want, Options{}); err != nil {
		b.Fatal(err)
	}
	writeKustomization(b, dir, input, want.Bytes())
	kustomized, err := exec.Command(kubectl, "kustomize", dir).Output()
	if err != nil {
		b.Fatalf("kubectl kustomize: %v", err)
	}
	got, expected := containersByWorkload(b, kustomized), containersByWorkload(b, want.Bytes())
	if len(expected) < 4 || !reflect.DeepEqual(got, expected) {
		b.Fatalf("the kustomize patch is not equivalent to the post-render:\nkustomize:  %v\npostrender: %v", got, expected)
	}

	var postrenderTime, kustomizeTime time.Duration
	for b.Loop() {
		start := time.Now()
		cmd := exec.Command(postrender)
		cmd.Stdin = bytes.NewReader(input)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("taowa-postrender: %v\n%s", err, out)
		}
		postrenderTime += time.Since(start)

		start = time.Now()
		if out, err := exec.Command(kubectl, "kustomize", dir).CombinedOutput(); err != nil {
			b.Fatalf("kubectl kustomize: %v\n%s", err, out)
		}
		kustomizeTime += time.Since(start)
	}
	b.ReportMetric(float64(postrenderTime.Microseconds())/float64(b.N)/1000, "ms-postrender/release")
	b.ReportMetric(float64(kustomizeTime.Microseconds())/float64(b.N)/1000, "ms-kustomize/release")
	b.ReportMetric(float64(postrenderTime)/float64(kustomizeTime), "ratio-postrender/kustomize")
}

// writeKustomization writes dir/kustomization.yaml: the rendered input as its resource and, for
// every container the post-renderer changed, JSON patches setting its command, args and image
// to what the post-renderer produced.
func writeKustomization(b *testing.B, dir string, input, rendered []byte) {
	b.Helper()
	if err := os.WriteFile(filepath.Join(dir, "input.yaml"), input, 0o644); err != nil {
		b.Fatal(err)
	}
	before, after := splitDocuments(input), splitDocuments(rendered)
	var patches []map[string]any
	for i := range before {
		var in, out workloadShape
		if yaml.Unmarshal(before[i], &in) != nil || yaml.Unmarshal(after[i], &out) != nil || in.Kind == "" {
			continue
		}
		var ops []map[string]any
		for c := range in.Spec.Template.Spec.Containers {
			was, now := in.Spec.Template.Spec.Containers[c], out.Spec.Template.Spec.Containers[c]
			for _, f := range []struct {
				name     string
				was, now any
			}{{"command", was.Command, now.Command}, {"args", was.Args, now.Args}, {"image", was.Image, now.Image}} {
				if !reflect.DeepEqual(f.was, f.now) {
					ops = append(ops, map[string]any{"op": "add", "path": fmt.Sprintf("/spec/template/spec/containers/%d/%s", c, f.name), "value": f.now})
				}
			}
		}
		if len(ops) == 0 {
			continue
		}
		patch, err := yaml.Marshal(ops)
		if err != nil {
			b.Fatal(err)
		}
		patches = append(patches, map[string]any{"target": map[string]string{"kind": in.Kind, "name": in.Metadata.Name}, "patch": string(patch)})
	}
	if len(patches) == 0 {
		b.Fatal("the post-renderer changed nothing: no patch to compare with")
	}
	kustomization, err := yaml.Marshal(map[string]any{"resources": []string{"input.yaml"}, "patches": patches})
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), kustomization, 0o644); err != nil {
		b.Fatal(err)
	}
}

type workloadShape struct {
	Kind     string
	Metadata struct{ Name string }
	Spec     struct {
		Template struct {
			Spec struct {
				Containers []struct {
					Image   string   `json:"image"`
					Command []string `json:"command"`
					Args    []string `json:"args"`
				}
			}
		}
	}
}

// containersByWorkload maps kind/name of every workload to its containers.
func containersByWorkload(b *testing.B, manifests []byte) map[string]any {
	b.Helper()
	out := map[string]any{}
	for _, doc := range splitDocuments(manifests) {
		var w workloadShape
		if err := yaml.Unmarshal(doc, &w); err != nil {
			b.Fatal(err)
		}
		if w.Kind != "" && len(w.Spec.Template.Spec.Containers) > 0 {
			out[w.Kind+"/"+w.Metadata.Name] = w.Spec.Template.Spec.Containers
		}
	}
	return out
}
