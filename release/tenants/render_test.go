package tenants

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/taowa/taowa/postrender"
	"github.com/taowa/taowa/release/tenants/tenantstest"
)

// Render prints what helm template --post-renderer taowa-postrender prints: postrender.Render of
// Helm's plain client-only render, then the hooks as helm template appends them.
func TestRenderIsHelmTemplatePostRendered(t *testing.T) {
	values := map[string]any{"apiserver": map[string]any{"replicas": 2}}
	got, err := Render(context.Background(), RenderOptions{
		ChartPath: tenantstest.ChartPath(), Name: "tenant-a", Namespace: "ns-a",
		KubernetesVersion: mustVersion(t, "1.33.13"), Values: values, KubeVersion: "1.36.0",
	})
	if err != nil {
		t.Fatal(err)
	}

	ch, err := loadChart(tenantstest.ChartPath())
	if err != nil {
		t.Fatal(err)
	}
	plain := action.NewInstall(&action.Configuration{Log: t.Logf})
	plain.ReleaseName, plain.Namespace = "tenant-a", "ns-a"
	plain.DryRun, plain.ClientOnly, plain.Replace = true, true, true
	plain.KubeVersion, err = chartutil.ParseKubeVersion("1.36.0")
	if err != nil {
		t.Fatal(err)
	}
	rel, err := plain.Run(ch, map[string]any{"apiserver": map[string]any{"replicas": 2}, "kubernetesVersion": "1.33.13"})
	if err != nil {
		t.Fatal(err)
	}
	var rendered bytes.Buffer
	if err := postrender.Render(strings.NewReader(rel.Manifest), &rendered, postrender.Options{}); err != nil {
		t.Fatal(err)
	}
	if rendered.String() == rel.Manifest {
		t.Fatal("postrender.Render changed nothing: the comparison would prove nothing")
	}
	if len(rel.Hooks) == 0 {
		t.Fatal("the chart has no hooks: the comparison would not cover them")
	}
	want := strings.TrimSpace(rendered.String()) + "\n"
	for _, h := range rel.Hooks {
		want += "---\n# Source: " + h.Path + "\n" + h.Manifest + "\n"
	}
	if string(got) != want {
		t.Errorf("Render differs from postrender.Render of Helm's plain render plus its hooks")
	}
	for _, s := range []string{"--experimental-watch-progress-notify-interval=5s", "image: registry.k8s.io/kube-apiserver:v1.33.13", "helm.sh/hook: pre-install,pre-upgrade", "namespace: ns-a"} {
		if !strings.Contains(string(got), s) {
			t.Errorf("render lacks %q", s)
		}
	}
}

func TestRenderIsDeterministic(t *testing.T) {
	opts := RenderOptions{ChartPath: tenantstest.ChartPath(), Name: "tenant-a", Namespace: "ns-a"}
	first, err := Render(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	second, err := Render(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, second) {
		t.Error("two renders differ")
	}
	if !strings.Contains(string(first), "image: registry.k8s.io/kube-apiserver:v1.37.2") {
		t.Error("a render without a version is not of the default version 1.37.2")
	}
}

// kube-controller-manager 1.37 dropped --concurrent-service-syncs (versions.yaml): the
// post-renderer refuses it for 1.37 and Render returns its error, no manifests.
func TestRenderRefusesAFlagTheVersionLacks(t *testing.T) {
	values := map[string]any{"controllerManager": map[string]any{"extraArgs": map[string]any{"concurrent-service-syncs": "2"}}}
	opts := RenderOptions{ChartPath: tenantstest.ChartPath(), Name: "tenant-a", Namespace: "ns-a", KubernetesVersion: mustVersion(t, "1.36.3"), Values: values}
	out, err := Render(context.Background(), opts)
	if err != nil || !strings.Contains(string(out), "- --concurrent-service-syncs=2") {
		t.Fatalf("1.36.3: %v; want a render with the flag", err)
	}
	opts.KubernetesVersion = mustVersion(t, "1.37.2")
	out, err = Render(context.Background(), opts)
	if err == nil || out != nil || !strings.Contains(err.Error(), "concurrent-service-syncs") || !strings.Contains(err.Error(), "1.37.2") {
		t.Errorf("1.37.2: got %d bytes, %v; want no output and an error naming the flag and the version", len(out), err)
	}
}

func TestRenderRefusals(t *testing.T) {
	for _, tc := range []struct {
		opts RenderOptions
		want string
	}{
		{RenderOptions{Name: "tenant-a"}, "no namespace"},
		{RenderOptions{Name: "tenant-a", Namespace: "ns", KubernetesVersion: mustVersion(t, "1.30.4")}, "unsupported"},
		{RenderOptions{Name: "tenant-a", Namespace: "ns", Values: map[string]any{"kubernetesVersion": "1.36.3"}}, "kubernetesVersion"},
		{RenderOptions{Name: "tenant-a", Namespace: "ns", KubeVersion: "one"}, `kube version "one"`},
		{RenderOptions{Name: "Tenant_A", Namespace: "ns"}, "Tenant_A"},
		{RenderOptions{Name: "tenant-a", Namespace: "ns", ChartPath: t.TempDir()}, "load chart"},
	} {
		if tc.opts.ChartPath == "" {
			tc.opts.ChartPath = tenantstest.ChartPath()
		}
		out, err := Render(context.Background(), tc.opts)
		if err == nil || out != nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %d bytes, %v; want an error with %q", tc.opts, len(out), err, tc.want)
		}
	}
}

func TestIsChart(t *testing.T) {
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "Chart.yaml"), []byte("apiVersion: v2\nname: nginx\nversion: 1.0.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	broken := t.TempDir()
	if err := os.WriteFile(filepath.Join(broken, "Chart.yaml"), []byte("name: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for dir, want := range map[string]bool{tenantstest.ChartPath(): true, other: false, t.TempDir(): false} {
		if got, err := IsChart(dir); err != nil || got != want {
			t.Errorf("IsChart(%s) = %v, %v; want %v", dir, got, err, want)
		}
	}
	if _, err := IsChart(broken); err == nil {
		t.Error("a broken Chart.yaml: no error")
	}
}
