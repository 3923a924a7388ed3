package metacluster

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Image describes a single-layer image built from files on this machine, the way the project
// provides every image without a registry or a Docker engine.
type Image struct {
	Ref        string // upstream name, e.g. registry.k8s.io/kube-apiserver:v1.37.2
	Files      []ImageFile
	Entrypoint []string
	User       string
	// Env is set in the image besides PATH.
	Env []string
}

// ImageFile is one file of an image: a copy of Src, or a symlink to Link when Src is empty.
type ImageFile struct {
	Path string // absolute path inside the image
	Src  string
	Link string
	Mode int64
}

// BinaryImage is an image holding one static binary at path, run as the given user.
func BinaryImage(ref, src, path, user string) Image {
	return Image{Ref: ref, Files: []ImageFile{{Path: path, Src: src, Mode: 0o755}}, Entrypoint: []string{path}, User: user}
}

// Tarball returns an image tarball for img, building it unless the cache holds one for the same
// inputs. Builds are reproducible (no timestamps), so the same inputs give the same image digest.
func (c Config) Tarball(img Image) (string, error) {
	key, err := img.key()
	if err != nil {
		return "", err
	}
	path := filepath.Join(c.CacheDir, "images", key+".tar")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	layerTar, err := img.layer()
	if err != nil {
		return "", err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return "", fmt.Errorf("image %s: %w", img.Ref, err)
	}
	image, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", img.Ref, err)
	}
	cfg, err := image.ConfigFile()
	if err != nil {
		return "", fmt.Errorf("image %s: %w", img.Ref, err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", "amd64"
	cfg.Config = v1.Config{
		Entrypoint: img.Entrypoint,
		User:       img.User,
		Env:        append([]string{"PATH=/usr/local/bin:/usr/bin:/bin"}, img.Env...),
	}
	if image, err = mutate.ConfigFile(image, cfg); err != nil {
		return "", fmt.Errorf("image %s: %w", img.Ref, err)
	}
	tag, err := name.NewTag(img.Ref)
	if err != nil {
		return "", fmt.Errorf("image name %q: %w", img.Ref, err)
	}
	// A temporary file of its own: nodes added at the same time build the same image, and each
	// rename then puts identical bytes in place.
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return "", err
	}
	tmp.Close()
	if err := tarball.WriteToFile(tmp.Name(), tag, image); err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("write image %s: %w", img.Ref, err)
	}
	return path, os.Rename(tmp.Name(), path)
}

// key hashes everything the image is made of: its description and the content of its files.
func (img Image) key() (string, error) {
	h := sha256.New()
	desc, _ := json.Marshal(img)
	h.Write(desc)
	for _, f := range img.Files {
		if f.Src == "" {
			continue
		}
		in, err := os.Open(f.Src)
		if err != nil {
			return "", fmt.Errorf("image %s: %w", img.Ref, err)
		}
		_, err = io.Copy(h, in)
		in.Close()
		if err != nil {
			return "", fmt.Errorf("image %s: read %s: %w", img.Ref, f.Src, err)
		}
	}
	return strings.NewReplacer("/", "_", ":", "_").Replace(img.Ref) + "-" + hex.EncodeToString(h.Sum(nil))[:16], nil
}

// layer writes the image's files as one tar, with parent directories and a /tmp.
func (img Image) layer() ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{"tmp": true}
	for _, f := range img.Files {
		for d := filepath.Dir(strings.TrimPrefix(f.Path, "/")); d != "."; d = filepath.Dir(d) {
			dirs[d] = true
		}
	}
	sorted := make([]string, 0, len(dirs))
	for d := range dirs {
		sorted = append(sorted, d)
	}
	sort.Strings(sorted)
	for _, d := range sorted {
		mode := int64(0o755)
		if d == "tmp" {
			mode = 0o1777
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: mode}); err != nil {
			return nil, err
		}
	}
	for _, f := range img.Files {
		hdr := &tar.Header{Name: strings.TrimPrefix(f.Path, "/"), Mode: f.Mode}
		if f.Src == "" {
			hdr.Typeflag, hdr.Linkname, hdr.Mode = tar.TypeSymlink, f.Link, 0o777
			if err := tw.WriteHeader(hdr); err != nil {
				return nil, err
			}
			continue
		}
		data, err := os.ReadFile(f.Src)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", img.Ref, err)
		}
		hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(data))
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Import loads image tarballs into containerd's k8s.io namespace, where the kubelet finds them
// under their upstream names.
func (c Config) Import(tarballs ...string) error {
	for _, t := range tarballs {
		out, err := exec.Command("ctr", "--address", c.ContainerdSocket(), "--namespace", "k8s.io",
			"images", "import", "--no-unpack=false", t).CombinedOutput()
		if err != nil {
			return fmt.Errorf("import %s: %w: %s", t, err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// Images lists the names of the images in containerd's k8s.io namespace.
func (c Config) Images() ([]string, error) {
	out, err := exec.Command("ctr", "--address", c.ContainerdSocket(), "--namespace", "k8s.io", "images", "list", "--quiet").Output()
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	var refs []string
	for _, ref := range strings.Fields(string(out)) {
		// containerd lists each image under its name and again under its digest.
		if !strings.HasPrefix(ref, "sha256:") {
			refs = append(refs, ref)
		}
	}
	return refs, nil
}

// ExportImages writes every image of containerd's k8s.io namespace to one tarball at path, for
// Import to load into a cluster brought up anew. It returns the images' names.
func (c Config) ExportImages(path string) ([]string, error) {
	refs, err := c.Images()
	if err != nil {
		return nil, err
	}
	if len(refs) == 0 {
		return nil, fmt.Errorf("export images: containerd at %s holds none", c.ContainerdSocket())
	}
	args := append([]string{"--address", c.ContainerdSocket(), "--namespace", "k8s.io", "images", "export", path}, refs...)
	if out, err := exec.Command("ctr", args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("export images to %s: %w: %s", path, err, strings.TrimSpace(string(out)))
	}
	return refs, nil
}

// BuildAndImport builds the images (or takes them from the cache) and imports them.
func (c Config) BuildAndImport(images ...Image) error {
	var tars []string
	for _, img := range images {
		t, err := c.Tarball(img)
		if err != nil {
			return err
		}
		tars = append(tars, t)
	}
	return c.Import(tars...)
}

// clusterImages are the images the cluster itself runs: the Pod sandbox, CoreDNS, and busybox for
// tests and debugging.
func (c Config) clusterImages() ([]Image, error) {
	busybox, err := busyboxImage()
	if err != nil {
		return nil, err
	}
	return []Image{
		BinaryImage(PauseImage, filepath.Join(c.BinDir, "pause"), "/pause", "65535"),
		BinaryImage("registry.k8s.io/coredns/coredns:"+c.CoreDNSVersion, c.CoreDNSBin(), "/coredns", "65532"),
		busybox,
	}, nil
}

// busyboxImage is Debian's static busybox with a symlink per applet.
func busyboxImage() (Image, error) {
	bin, err := exec.LookPath("busybox")
	if err != nil {
		return Image{}, fmt.Errorf("busybox not found (hack/install-deps.sh installs busybox-static): %w", err)
	}
	out, err := exec.Command(bin, "--list-full").Output()
	if err != nil {
		return Image{}, fmt.Errorf("busybox --list-full: %w", err)
	}
	img := Image{Ref: BusyboxImage, Entrypoint: []string{"/bin/sh"}, Files: []ImageFile{{Path: "/bin/busybox", Src: bin, Mode: 0o755}}}
	for _, applet := range strings.Fields(string(out)) {
		if applet != "bin/busybox" {
			img.Files = append(img.Files, ImageFile{Path: "/" + applet, Link: "/bin/busybox"})
		}
	}
	return img, nil
}

// KubeProxyImage is kube-proxy of version with what its iptables mode executes: the host's
// iptables (nft backend), its extensions and their shared libraries.
func (c Config) KubeProxyImage(version string) (Image, error) {
	bin := filepath.Join(c.CacheDir, "k8s", version, "bin", "kube-proxy")
	if _, err := os.Stat(bin); err != nil {
		return Image{}, fmt.Errorf("kube-proxy %s: %w (hack/build-k8s.sh %s kube-proxy builds it)", version, err, version)
	}
	xtables, err := filepath.EvalSymlinks("/usr/sbin/iptables")
	if err != nil {
		return Image{}, fmt.Errorf("iptables not found (hack/install-deps.sh installs it): %w", err)
	}
	img := Image{
		Ref:        "registry.k8s.io/kube-proxy:" + version,
		Entrypoint: []string{"/usr/local/bin/kube-proxy"},
		Files: []ImageFile{
			{Path: "/usr/local/bin/kube-proxy", Src: bin, Mode: 0o755},
			{Path: xtables, Src: xtables, Mode: 0o755},
			{Path: "/etc/protocols", Src: "/etc/protocols", Mode: 0o644},
		},
	}
	for _, name := range []string{"iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore"} {
		img.Files = append(img.Files, ImageFile{Path: "/usr/bin/" + name, Link: xtables})
	}
	extensions, err := filepath.Glob("/usr/lib/x86_64-linux-gnu/xtables/*.so")
	if err != nil || len(extensions) == 0 {
		return Image{}, fmt.Errorf("no iptables extensions in /usr/lib/x86_64-linux-gnu/xtables")
	}
	executables := append([]string{xtables}, extensions...)
	for _, e := range extensions {
		img.Files = append(img.Files, ImageFile{Path: e, Src: e, Mode: 0o644})
	}
	libs, err := sharedLibraries(executables...)
	if err != nil {
		return Image{}, err
	}
	for _, lib := range libs {
		img.Files = append(img.Files, ImageFile{Path: lib, Src: lib, Mode: 0o755})
	}
	return img, nil
}

// sharedLibraries lists the libraries (and the dynamic loader) the files load, by ldd, under the
// paths the loader looks for them at.
func sharedLibraries(files ...string) ([]string, error) {
	seen := map[string]bool{}
	for _, f := range files {
		out, err := exec.Command("ldd", f).Output()
		if err != nil {
			return nil, fmt.Errorf("ldd %s: %w", f, err)
		}
		for _, line := range strings.Split(string(out), "\n") {
			fields := strings.Fields(line)
			switch {
			case len(fields) >= 3 && fields[1] == "=>" && strings.HasPrefix(fields[2], "/"):
				seen[fields[2]] = true
			case len(fields) >= 1 && strings.HasPrefix(fields[0], "/"):
				seen[fields[0]] = true
			}
		}
	}
	libs := make([]string, 0, len(seen))
	for lib := range seen {
		libs = append(libs, lib)
	}
	sort.Strings(libs)
	return libs, nil
}

// nodeImages are what a tenant node holds besides the cluster's images: kube-proxy of every
// Kubernetes version whose kube-proxy is built, for the tenant's kube-proxy add-on.
func (c Config) nodeImages() ([]Image, error) {
	images, err := c.clusterImages()
	if err != nil {
		return nil, err
	}
	built, _ := filepath.Glob(filepath.Join(c.CacheDir, "k8s", "*", "bin", "kube-proxy"))
	for _, bin := range built {
		img, err := c.KubeProxyImage(filepath.Base(filepath.Dir(filepath.Dir(bin))))
		if err != nil {
			return nil, err
		}
		images = append(images, img)
	}
	return images, nil
}
