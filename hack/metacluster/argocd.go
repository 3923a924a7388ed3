package metacluster

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// Argo CD on the meta cluster, as a platform team runs it: Argo CD's own install.yaml of the
// version hack/build-tools.sh argocd built, in namespace argocd, with images made on this machine
// (Argo CD's binary with git and a shell, Debian's redis-server). The taowa plugin is not part of
// it: adding it is the user's step that release/argocd/README.md documents, which the e2e test
// takes as written.
const ArgoCDNamespace = "argocd"

// argoCDStopped are the Deployments of install.yaml that syncing from git does not need, kept at
// zero replicas to save the node's CPU: single sign-on, the API server and web UI (the tests work
// with Applications as objects), and notifications.
var argoCDStopped = []string{"argocd-dex-server", "argocd-server", "argocd-notifications-controller"}

// argoCDWorkloads are what must be ready before Argo CD syncs.
var argoCDWorkloads = []string{"deployment/argocd-redis", "deployment/argocd-repo-server",
	"deployment/argocd-applicationset-controller", "statefulset/argocd-application-controller"}

// ArgoCDDir is where hack/build-tools.sh argocd put Argo CD's binary and install.yaml.
func (c Config) ArgoCDDir() string {
	return filepath.Join(c.CacheDir, "tools", "argocd", c.ArgoCDVersion)
}

// ArgoCDUp installs Argo CD (or brings an installed one to install.yaml) and waits until it runs.
func ArgoCDUp(ctx context.Context, c Config, out io.Writer) error {
	manifest, err := os.ReadFile(filepath.Join(c.ArgoCDDir(), "install.yaml"))
	if err != nil {
		return fmt.Errorf("Argo CD %s is not built (hack/build-tools.sh argocd): %w", c.ArgoCDVersion, err)
	}
	argocd, err := c.argoCDImage()
	if err != nil {
		return err
	}
	redis, err := redisImage()
	if err != nil {
		return err
	}
	if err := c.BuildAndImport(argocd, redis); err != nil {
		return fmt.Errorf("Argo CD images: %w", err)
	}
	manifest, err = localArgoCD(manifest, redis.Ref)
	if err != nil {
		return err
	}
	client, err := c.Client()
	if err != nil {
		return err
	}
	if err := createNamespace(ctx, client, ArgoCDNamespace); err != nil {
		return err
	}
	fmt.Fprintf(out, "argocd: applying install.yaml of Argo CD %s\n", c.ArgoCDVersion)
	if err := c.kubectl(manifest, "-n", ArgoCDNamespace, "apply", "--server-side", "--force-conflicts", "-f", "-"); err != nil {
		return fmt.Errorf("apply Argo CD: %w", err)
	}
	// The project's kind exists once its CRD, just created, is established.
	if err := c.kubectl(nil, "wait", "--for=condition=Established", "--timeout=1m", "crd/appprojects.argoproj.io"); err != nil {
		return fmt.Errorf("Argo CD's AppProject CRD: %w", err)
	}
	if err := c.kubectl([]byte(argoCDDefaultProject), "-n", ArgoCDNamespace, "apply", "--server-side", "--force-conflicts", "-f", "-"); err != nil {
		return fmt.Errorf("Argo CD's default project: %w", err)
	}
	for _, w := range argoCDWorkloads {
		if err := c.kubectl(nil, "-n", ArgoCDNamespace, "rollout", "status", "--timeout=5m", w); err != nil {
			return fmt.Errorf("Argo CD %s: %w", w, err)
		}
	}
	fmt.Fprintf(out, "argocd: Argo CD %s runs in namespace %s (%s)\n", c.ArgoCDVersion, ArgoCDNamespace, strings.Join(argoCDWorkloads, ", "))
	return nil
}

// ArgoCDDown removes Argo CD's namespace (its Applications with it; the CRDs stay).
func ArgoCDDown(ctx context.Context, c Config) error {
	return c.deleteNamespace(ctx, ArgoCDNamespace)
}

// argoCDImage is Argo CD's image as its Dockerfile makes it, from files on this machine: the
// multicall binary under each component's name, git and git-verify-wrapper.sh for the
// repo-server, and a shell with cp and ln for its init container, run as Argo CD's user 999. GnuPG is not in it, so
// commit signature verification is off (ARGOCD_GPG_ENABLED=false).
func (c Config) argoCDImage() (Image, error) {
	const bin = "/usr/local/bin/argocd"
	img := Image{
		Ref:  "quay.io/argoproj/argocd:" + c.ArgoCDVersion,
		User: "999",
		Env:  []string{"HOME=/home/argocd", "USER=argocd", "ARGOCD_GPG_ENABLED=false"},
		Files: []ImageFile{
			{Path: bin, Src: filepath.Join(c.ArgoCDDir(), "argocd"), Mode: 0o755},
			{Path: "/usr/local/bin/git-verify-wrapper.sh", Src: filepath.Join(c.ArgoCDDir(), "git-verify-wrapper.sh"), Mode: 0o755},
			{Path: "/bin/busybox", Src: "/bin/busybox", Mode: 0o755},
		},
	}
	for _, name := range []string{"server", "repo-server", "application-controller", "applicationset-controller",
		"cmp-server", "commit-server", "dex", "notifications", "git-ask-pass", "k8s-auth"} {
		img.Files = append(img.Files, ImageFile{Path: bin + "-" + name, Link: bin})
	}
	for _, applet := range []string{"sh", "cp", "ln", "test"} {
		img.Files = append(img.Files, ImageFile{Path: "/bin/" + applet, Link: "/bin/busybox"})
	}
	git, err := gitFiles()
	if err != nil {
		return Image{}, err
	}
	img.Files = append(img.Files, git...)
	return img, nil
}

// redisImage is Debian's redis-server with its shared libraries.
func redisImage() (Image, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return Image{}, fmt.Errorf("redis-server not found (hack/install-deps.sh argocd installs it): %w", err)
	}
	version := "unknown"
	if out, err := exec.Command(bin, "--version").Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			if v, ok := strings.CutPrefix(f, "v="); ok {
				version = v
			}
		}
	}
	img := Image{Ref: "localhost/taowa/redis:" + version, Entrypoint: []string{"/usr/bin/redis-server"}, User: "999",
		Files: []ImageFile{{Path: "/usr/bin/redis-server", Src: bin, Mode: 0o755}}}
	libs, err := sharedLibraries(bin)
	if err != nil {
		return Image{}, err
	}
	for _, lib := range libs {
		img.Files = append(img.Files, ImageFile{Path: lib, Src: lib, Mode: 0o755})
	}
	return img, nil
}

// localArgoCD rewrites install.yaml for the offline meta cluster: images are never pulled, Redis
// is the local image, and the Deployments in argoCDStopped run no replica.
func localArgoCD(manifest []byte, redisRef string) ([]byte, error) {
	var docs [][]byte
	for _, doc := range bytes.Split(manifest, []byte("\n---\n")) {
		var obj map[string]any
		if err := yaml.Unmarshal(doc, &obj); err != nil {
			return nil, fmt.Errorf("Argo CD install.yaml: %w", err)
		}
		if obj == nil {
			continue
		}
		if kind, _ := obj["kind"].(string); kind == "Deployment" || kind == "StatefulSet" {
			name, _ := nested(obj, "metadata")["name"].(string)
			spec := nested(obj, "spec")
			for _, stopped := range argoCDStopped {
				if name == stopped {
					spec["replicas"] = 0
				}
			}
			pod := nested(nested(spec, "template"), "spec")
			for _, key := range []string{"initContainers", "containers"} {
				containers, _ := pod[key].([]any)
				for _, ctr := range containers {
					ctr := ctr.(map[string]any)
					ctr["imagePullPolicy"] = "Never"
					if image, _ := ctr["image"].(string); strings.Contains(image, "/redis:") {
						ctr["image"] = redisRef
					}
				}
			}
		}
		out, err := yaml.Marshal(obj)
		if err != nil {
			return nil, err
		}
		docs = append(docs, out)
	}
	return bytes.Join(docs, []byte("---\n")), nil
}

// argoCDDefaultProject is the project argocd-server creates when it starts, which Applications
// name unless they name another; argocd-server does not run here, so ArgoCDUp applies it.
const argoCDDefaultProject = `apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata:
  name: default
spec:
  sourceRepos: ['*']
  destinations: [{server: '*', namespace: '*'}]
  clusterResourceWhitelist: [{group: '*', kind: '*'}]
`

// nested returns obj[key] as a map, nil when it is not one.
func nested(obj map[string]any, key string) map[string]any {
	m, _ := obj[key].(map[string]any)
	return m
}
