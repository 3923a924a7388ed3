//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// argoRender runs the Argo CD plugin's generate command, as plugin.yaml gives it, the way Argo
// CD's sidecar does: in the chart directory, with Argo CD's environment, and nothing on PATH but
// what the sidecar's image holds, the taowa binary.
func argoRender(t *testing.T, release, namespace string, env ...string) []byte {
	t.Helper()
	root := repoRoot()
	data, err := os.ReadFile(filepath.Join(root, "release", "argocd", "plugin.yaml"))
	require.NoError(t, err)
	var plugin struct {
		Spec struct {
			Generate struct{ Command, Args []string }
		}
	}
	require.NoError(t, yaml.Unmarshal(data, &plugin))
	command := append(plugin.Spec.Generate.Command, plugin.Spec.Generate.Args...)
	require.NotEmpty(t, command, "plugin.yaml has no generate command")
	require.Equal(t, "taowa", command[0], "plugin.yaml's generate command is not in the sidecar's image (taowa alone)")

	path := t.TempDir()
	require.NoError(t, os.Symlink(filepath.Join(root, "bin", "taowa"), filepath.Join(path, "taowa")))
	cmd := exec.Command(filepath.Join(path, command[0]), command[1:]...)
	cmd.Dir = filepath.Join(root, "charts", "tenant-master")
	cmd.Env = append([]string{"PATH=" + path, "HOME=" + t.TempDir(),
		"ARGOCD_APP_NAME=" + release, "ARGOCD_APP_NAMESPACE=" + namespace}, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "%s: %s", strings.Join(command, " "), stderr.String())
	return stdout.Bytes()
}

// argoObject is what the test needs of a rendered document.
type argoObject struct {
	doc        []byte
	kind, name string
	phases     []string // PreSync, Sync, PostSync; none when Argo CD skips it
	wave       int
}

// argoObjects sorts the documents the way Argo CD maps Helm hooks: pre-install and pre-upgrade
// run as PreSync, post-install and post-upgrade as PostSync (a resource with both runs in both),
// hook-weight is the sync wave, and a resource whose hooks are all unsupported (test, rollback,
// delete) is skipped.
func argoObjects(t *testing.T, manifests []byte) []argoObject {
	t.Helper()
	var objects []argoObject
	for _, doc := range bytes.Split(manifests, []byte("\n---")) {
		var o struct {
			Kind     string
			Metadata struct {
				Name        string
				Annotations map[string]string
			}
		}
		require.NoError(t, yaml.Unmarshal(doc, &o))
		if o.Kind == "" {
			continue
		}
		obj := argoObject{doc: doc, kind: o.Kind, name: o.Metadata.Name, phases: []string{"Sync"}}
		if hooks, ok := o.Metadata.Annotations["helm.sh/hook"]; ok {
			obj.phases = nil
			events := strings.Split(hooks, ",")
			if slices.Contains(events, "pre-install") || slices.Contains(events, "pre-upgrade") {
				obj.phases = append(obj.phases, "PreSync")
			}
			if slices.Contains(events, "post-install") || slices.Contains(events, "post-upgrade") {
				obj.phases = append(obj.phases, "PostSync")
			}
			if w := o.Metadata.Annotations["helm.sh/hook-weight"]; w != "" {
				var err error
				obj.wave, err = strconv.Atoi(w)
				require.NoError(t, err)
			}
		}
		objects = append(objects, obj)
	}
	return objects
}

// TestArgoCDRender renders as Argo CD does: twice byte-identical (no drift), every hook mapped to
// a phase Argo CD runs or deliberately skipped, and the values the plugin passes applied.
func TestArgoCDRender(t *testing.T) {
	env := []string{"ARGOCD_ENV_KUBERNETES_VERSION=1.36.3", "ARGOCD_ENV_VALUES=apiserver:\n  replicas: 2\n", "KUBE_VERSION=1.37.2"}
	first := argoRender(t, "tenant-x", "tenant-x", env...)
	second := argoRender(t, "tenant-x", "tenant-x", env...)
	require.Equal(t, first, second, "two renders must be byte-identical, or Argo CD shows drift")
	assert.Contains(t, string(first), "image: registry.k8s.io/kube-apiserver:v1.36.3", "the version reaches the post-renderer")
	assert.Contains(t, string(first), "replicas: 2")

	phases := map[string][]string{}
	for _, o := range argoObjects(t, first) {
		if len(o.phases) == 0 {
			phases[""] = append(phases[""], o.kind+"/"+o.name)
		}
		for _, p := range o.phases {
			phases[p] = append(phases[p], o.kind+"/"+o.name)
		}
	}
	assert.Subset(t, phases["PreSync"], []string{"Job/tenant-x-snapshot-volume", "Job/tenant-x-pki", "Job/tenant-x-pre-upgrade"})
	assert.Subset(t, phases["PostSync"], []string{"Job/tenant-x-ready"})
	assert.ElementsMatch(t, []string{"Pod/tenant-x-test", "Job/tenant-x-etcd-snapshot-final", "Job/tenant-x-pre-rollback"}, phases[""],
		"only the helm test Pod, the pre-delete final snapshot and the pre-rollback steps are skipped by Argo CD")
}

// TestArgoCDFirstSync applies a render to an empty namespace in Argo CD's order (PreSync hooks by
// wave, each Job to completion, then the resources, then PostSync hooks; a hook Job is deleted
// before it is created again, as hook-delete-policy before-hook-creation says): every hook must
// work on a first sync, where Argo CD runs the pre-upgrade hooks before anything exists, and the
// tenant must come up.
func TestArgoCDFirstSync(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	ns := testNamespace(ctx, t, "e2e-argocd")
	tn := tenant{release: "tenant-argo", namespace: ns, version: "1.37.2"}
	objects := argoObjects(t, argoRender(t, tn.release, ns))

	apply := func(phase string) {
		var waves []int
		for _, o := range objects {
			if slices.Contains(o.phases, phase) && !slices.Contains(waves, o.wave) {
				waves = append(waves, o.wave)
			}
		}
		slices.Sort(waves)
		for _, wave := range waves {
			var docs [][]byte
			var jobs []string
			for _, o := range objects {
				if slices.Contains(o.phases, phase) && o.wave == wave {
					docs = append(docs, o.doc)
					if o.kind == "Job" {
						jobs = append(jobs, "job/"+o.name)
						kubectl(t, "-n", ns, "delete", "--ignore-not-found", "--wait", "job/"+o.name)
					}
				}
			}
			kubectlStdin(t, bytes.Join(docs, []byte("\n---\n")), "-n", ns, "apply", "-f", "-")
			for _, job := range jobs {
				kubectl(t, "-n", ns, "wait", "--for=condition=complete", "--timeout=5m", job)
				t.Logf("%s wave %d: %s complete", phase, wave, job)
			}
		}
	}
	apply("PreSync")
	apply("Sync")
	kubectl(t, "-n", ns, "rollout", "status", "--timeout=5m", "deployment/"+tn.release+"-apiserver")
	apply("PostSync")
	info, err := tenantClient(ctx, t, tn).Discovery().ServerVersion()
	require.NoError(t, err)
	assert.Equal(t, "v"+tn.version, info.GitVersion)
	logs := kubectl(t, "-n", ns, "logs", "job/"+tn.release+"-pre-upgrade")
	assert.Contains(t, logs, "no control plane runs yet", "its skew-check step")
	assert.Contains(t, logs, fmt.Sprintf("no StatefulSet %s/%s-etcd yet", ns, tn.release), "its etcd-snapshot step")
}
