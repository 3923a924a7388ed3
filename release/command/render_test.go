package command

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/taowa/taowa/release/tenants"
	"github.com/taowa/taowa/release/tenants/tenantstest"
	"github.com/taowa/taowa/versions"
)

func mustRender(t *testing.T, opts tenants.RenderOptions) string {
	t.Helper()
	out, err := tenants.Render(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func mustVersion(t *testing.T, s string) versions.Version {
	t.Helper()
	v, err := versions.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// taowa render passes every flag on to tenants.Render and prints its bytes alone.
func TestRenderFlags(t *testing.T) {
	valuesFile := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(valuesFile, []byte("scheduler:\n  replicas: 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr := mustTaowa(t, tenantstest.NewCluster(), "render", "tenant-a", "-n", "ns-a", "--version", "1.36.3",
		"--set", "apiserver.replicas=3", "--set-string", "controllerManager.extraArgs.v=4", "-f", valuesFile, "--kube-version", "1.35.0")
	want := mustRender(t, tenants.RenderOptions{
		ChartPath: tenantstest.ChartPath(), Name: "tenant-a", Namespace: "ns-a", KubernetesVersion: mustVersion(t, "1.36.3"), KubeVersion: "1.35.0",
		Values: map[string]any{
			"apiserver":         map[string]any{"replicas": 3},
			"controllerManager": map[string]any{"extraArgs": map[string]any{"v": "4"}},
			"scheduler":         map[string]any{"replicas": 2},
		},
	})
	if stdout != want {
		t.Error("taowa render differs from tenants.Render with the same options")
	}
	if stderr != "" {
		t.Errorf("stderr of a render: %q", stderr)
	}
	for _, s := range []string{"image: registry.k8s.io/kube-apiserver:v1.36.3", "- --v=4"} {
		if !strings.Contains(stdout, s) {
			t.Errorf("render lacks %q", s)
		}
	}
	again, _ := mustTaowa(t, tenantstest.NewCluster(), "render", "tenant-a", "-n", "ns-a", "--version", "1.36.3",
		"--set", "apiserver.replicas=3", "--set-string", "controllerManager.extraArgs.v=4", "-f", valuesFile, "--kube-version", "1.35.0")
	if again != stdout {
		t.Error("two renders differ")
	}
}

func TestRenderFailurePrintsNothing(t *testing.T) {
	for _, args := range [][]string{
		{"render", "tenant-a", "-n", "ns-a", "--version", "1.37.2", "--set", "controllerManager.extraArgs.concurrent-service-syncs=2"},
		{"render", "tenant-a", "-n", "ns-a", "--version", "1.37"},
		{"render", "tenant-a", "-n", "ns-a", "--kube-version", "latest"},
		{"render", "-n", "ns-a"},
	} {
		stdout, _, err := taowa(t, tenantstest.NewCluster(), args...)
		if err == nil || stdout != "" {
			t.Errorf("taowa %s: %d bytes on stdout, error %v; want an error alone", strings.Join(args, " "), len(stdout), err)
		}
	}
}

// argoCD runs taowa with no arguments but args in dir, as Argo CD runs a plugin's commands.
func argoCD(t *testing.T, dir string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	t.Chdir(dir)
	var out, errOut bytes.Buffer
	err = Run(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestArgoCDGenerate(t *testing.T) {
	chart := tenantstest.ChartPath()
	t.Setenv("ARGOCD_APP_NAME", "tenant-x")
	t.Setenv("ARGOCD_APP_NAMESPACE", "ns-x")
	t.Setenv("KUBE_VERSION", "1.37.2")
	t.Setenv("ARGOCD_ENV_KUBERNETES_VERSION", "1.35.4")
	t.Setenv("ARGOCD_ENV_VALUES", "apiserver:\n  replicas: 2\n")
	stdout, _, err := argoCD(t, chart, "argocd-generate")
	if err != nil {
		t.Fatal(err)
	}
	want := mustRender(t, tenants.RenderOptions{
		ChartPath: chart, Name: "tenant-x", Namespace: "ns-x", KubernetesVersion: mustVersion(t, "1.35.4"), KubeVersion: "1.37.2",
		Values: map[string]any{"apiserver": map[string]any{"replicas": 2}},
	})
	if stdout != want {
		t.Error("argocd-generate differs from tenants.Render of the environment's options")
	}
	if !strings.Contains(stdout, "image: registry.k8s.io/kube-apiserver:v1.35.4") || !strings.Contains(stdout, "namespace: ns-x") {
		t.Error("argocd-generate did not render the environment's version and namespace")
	}

	t.Setenv("ARGOCD_ENV_KUBERNETES_VERSION", "")
	t.Setenv("ARGOCD_ENV_VALUES", "")
	t.Setenv("KUBE_VERSION", "")
	stdout, _, err = argoCD(t, chart, "argocd-generate")
	if err != nil {
		t.Fatal(err)
	}
	if want := mustRender(t, tenants.RenderOptions{ChartPath: chart, Name: "tenant-x", Namespace: "ns-x"}); stdout != want {
		t.Error("argocd-generate without the optional variables differs from a render with the defaults")
	}
}

func TestArgoCDGenerateRefusals(t *testing.T) {
	chart := tenantstest.ChartPath()
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"ARGOCD_APP_NAME": ""}, "ARGOCD_APP_NAME and ARGOCD_APP_NAMESPACE must be set"},
		{map[string]string{"ARGOCD_APP_NAMESPACE": ""}, "ARGOCD_APP_NAME and ARGOCD_APP_NAMESPACE must be set"},
		{map[string]string{"ARGOCD_ENV_KUBERNETES_VERSION": "latest"}, "ARGOCD_ENV_KUBERNETES_VERSION"},
		{map[string]string{"ARGOCD_ENV_VALUES": "apiserver: [\n"}, "ARGOCD_ENV_VALUES"},
		{map[string]string{"ARGOCD_ENV_VALUES": "kubernetesVersion: 1.36.3\n"}, "KUBERNETES_VERSION"},
	} {
		t.Setenv("ARGOCD_APP_NAME", "tenant-x")
		t.Setenv("ARGOCD_APP_NAMESPACE", "ns-x")
		t.Setenv("ARGOCD_ENV_KUBERNETES_VERSION", "")
		t.Setenv("ARGOCD_ENV_VALUES", "")
		for k, v := range tc.env {
			t.Setenv(k, v)
		}
		stdout, _, err := argoCD(t, chart, "argocd-generate")
		if err == nil || stdout != "" || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("env %v: %d bytes on stdout, error %v; want an error with %q alone", tc.env, len(stdout), err, tc.want)
		}
	}
}

func TestArgoCDDiscover(t *testing.T) {
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "Chart.yaml"), []byte("apiVersion: v2\nname: nginx\nversion: 1.0.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for dir, want := range map[string]string{tenantstest.ChartPath(): "Chart.yaml\n", other: "", t.TempDir(): ""} {
		stdout, _, err := argoCD(t, dir, "argocd-discover")
		if err != nil || stdout != want {
			t.Errorf("argocd-discover in %s: %q, %v; want %q", dir, stdout, err, want)
		}
	}
}
