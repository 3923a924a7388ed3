package metacluster

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// The meta cluster's git server: git's own smart HTTP (git-http-backend of Debian's git package)
// behind hack/cmd/gitserver, so that Argo CD on the cluster syncs from a repository a test pushes
// to. Repositories live in the Pod (an emptyDir): a test pushes what it needs.
const (
	GitServerNamespace = "taowa-git"
	GitServerName      = "git"
	GitServerPort      = 8080
)

// GitServer says where the git server answers.
type GitServer struct {
	// URL is its base URL by the Service's DNS name, for Pods (Argo CD's repo-server).
	URL string
	// HostURL is its base URL by the Service's ClusterIP, for the host.
	HostURL string
}

// GitServerUp starts the git server with the named bare repositories (each pushable over HTTP,
// at URL/NAME.git) when it does not run, and waits until it serves.
func GitServerUp(ctx context.Context, c Config, out io.Writer, repos ...string) (GitServer, error) {
	client, err := c.Client()
	if err != nil {
		return GitServer{}, err
	}
	img, err := c.gitServerImage()
	if err != nil {
		return GitServer{}, err
	}
	if err := c.BuildAndImport(img); err != nil {
		return GitServer{}, fmt.Errorf("git server image: %w", err)
	}
	if err := applyGitServer(ctx, client, img.Ref, repos); err != nil {
		return GitServer{}, err
	}
	svc, err := client.CoreV1().Services(GitServerNamespace).Get(ctx, GitServerName, metav1.GetOptions{})
	if err != nil {
		return GitServer{}, fmt.Errorf("git server Service: %w", err)
	}
	port := strconv.Itoa(GitServerPort)
	server := GitServer{
		URL:     "http://" + net.JoinHostPort(fmt.Sprintf("%s.%s.svc.%s", GitServerName, GitServerNamespace, DNSDomain), port),
		HostURL: "http://" + net.JoinHostPort(svc.Spec.ClusterIP, port),
	}
	fmt.Fprintf(out, "git server: waiting until %s serves\n", server.URL)
	err = waitFor(ctx, 2*time.Minute, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, server.HostURL+"/healthz", nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("git server /healthz: %s", resp.Status)
		}
		return nil
	})
	if err != nil {
		return GitServer{}, fmt.Errorf("git server at %s: %w", server.HostURL, err)
	}
	fmt.Fprintf(out, "git server: %s/REPO.git (repositories: %s)\n", server.URL, strings.Join(repos, " "))
	return server, nil
}

// GitServerDown removes the git server and its repositories.
func GitServerDown(ctx context.Context, c Config) error {
	return c.deleteNamespace(ctx, GitServerNamespace)
}

// gitServerImage holds hack/cmd/gitserver (make build) and git.
func (c Config) gitServerImage() (Image, error) {
	git, err := gitFiles()
	if err != nil {
		return Image{}, err
	}
	return Image{
		Ref:        "localhost/taowa/gitserver:" + gitVersion(),
		Entrypoint: []string{"/usr/local/bin/gitserver"},
		User:       "65532",
		Files:      append(git, ImageFile{Path: "/usr/local/bin/gitserver", Src: filepath.Join(c.BinDir, "gitserver"), Mode: 0o755}),
	}, nil
}

// gitFiles are Debian's git as an image needs it to fetch and serve over HTTP: the programs of
// /usr/lib/git-core (its scripts left out), git on the PATH, and their shared libraries. Read
// once per process (the Argo CD and git server images both hold them), clipped so that an
// append copies.
var gitFiles = sync.OnceValues(readGitFiles)

func readGitFiles() ([]ImageFile, error) {
	const core = "/usr/lib/git-core"
	entries, err := os.ReadDir(core)
	if err != nil {
		return nil, fmt.Errorf("git not found (hack/install-deps.sh installs it): %w", err)
	}
	files := []ImageFile{{Path: "/usr/bin/git", Link: core + "/git"}}
	var programs []string
	for _, e := range entries {
		path := filepath.Join(core, e.Name())
		if e.Type()&os.ModeSymlink != 0 {
			target, err := os.Readlink(path)
			if err != nil {
				return nil, err
			}
			files = append(files, ImageFile{Path: path, Link: target})
			continue
		}
		head := make([]byte, 4)
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		_, err = io.ReadFull(f, head)
		f.Close()
		if err != nil || !bytes.Equal(head, []byte("\x7fELF")) {
			continue
		}
		files = append(files, ImageFile{Path: path, Src: path, Mode: 0o755})
		programs = append(programs, path)
	}
	libs, err := sharedLibraries(programs...)
	if err != nil {
		return nil, err
	}
	for _, lib := range libs {
		files = append(files, ImageFile{Path: lib, Src: lib, Mode: 0o755})
	}
	return slices.Clip(files), nil
}

// applyGitServer creates what is missing: the namespace, the Deployment and the Service.
func applyGitServer(ctx context.Context, client kubernetes.Interface, image string, repos []string) error {
	labels := map[string]string{"app.kubernetes.io/name": GitServerName}
	if err := createNamespace(ctx, client, GitServerNamespace); err != nil {
		return err
	}
	_, err := client.AppsV1().Deployments(GitServerNamespace).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: GitServerName, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{
						Name: "git", Image: image, ImagePullPolicy: corev1.PullNever,
						Args:           append([]string{"-listen", ":" + strconv.Itoa(GitServerPort), "-root", "/srv/git"}, repos...),
						Env:            []corev1.EnvVar{{Name: "HOME", Value: "/tmp"}},
						Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: GitServerPort}},
						ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}}, PeriodSeconds: 1},
						VolumeMounts:   []corev1.VolumeMount{{Name: "repos", MountPath: "/srv/git"}, {Name: "tmp", MountPath: "/tmp"}},
						Resources: corev1.ResourceRequirements{
							Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")},
							Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
						},
					}},
					Volumes: []corev1.Volume{
						{Name: "repos", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
						{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
					},
				},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("git server Deployment: %w", err)
	}
	_, err = client.CoreV1().Services(GitServerNamespace).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: GitServerName, Labels: labels},
		Spec: corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{
			Name: "http", Port: GitServerPort, TargetPort: intstr.FromString("http")}}},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("git server Service: %w", err)
	}
	return nil
}

// createNamespace creates the namespace unless it exists.
func createNamespace(ctx context.Context, client kubernetes.Interface, name string) error {
	_, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("namespace %s: %w", name, err)
	}
	return nil
}

// deleteNamespace deletes the namespace and waits until it is gone.
func (c Config) deleteNamespace(ctx context.Context, name string) error {
	client, err := c.Client()
	if err != nil {
		return err
	}
	err = client.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete namespace %s: %w", name, err)
	}
	return waitFor(ctx, 2*time.Minute, func(ctx context.Context) error {
		_, err := client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		return fmt.Errorf("namespace %s is still there", name)
	})
}

// gitVersion is the host's git, which the images carry.
func gitVersion() string {
	out, err := exec.Command("git", "version").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimPrefix(strings.TrimSpace(string(out)), "git version ")
}
