// Package namedns creates and deletes named network namespaces, the kind
// "ip netns" manages: a namespace bind-mounted at /var/run/netns/<name>.
package namedns

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/containernetworking/plugins/pkg/ns"
	"golang.org/x/sys/unix"
)

// RunDir holds the bind mounts of named namespaces.
const RunDir = "/var/run/netns"

// Path returns where the namespace called name is mounted.
func Path(name string) string { return filepath.Join(RunDir, name) }

// Create makes a new network namespace, mounts it as name and returns it
// open. It fails if the name is taken.
func Create(name string) (ns.NetNS, error) {
	path := Path(name)
	if err := os.MkdirAll(RunDir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", RunDir, err)
	}
	mountPoint, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return nil, fmt.Errorf("create netns %s: %w", name, err)
	}
	mountPoint.Close()

	errc := make(chan error, 1)
	go func() {
		// The thread stays locked so that it exits with this goroutine
		// instead of going back to the scheduler in the new namespace.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare: %w", err)
			return
		}
		self := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		if err := unix.Mount(self, path, "none", unix.MS_BIND, ""); err != nil {
			errc <- fmt.Errorf("bind mount: %w", err)
			return
		}
		errc <- nil
	}()
	if err := <-errc; err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("create netns %s: %w", name, err)
	}
	netNS, err := ns.GetNS(path)
	if err != nil {
		return nil, errors.Join(err, Delete(name))
	}
	return netNS, nil
}

// Delete unmounts and removes the namespace called name. The kernel frees
// it, destroying its virtual links, once nothing else holds it. Deleting a
// namespace that does not exist succeeds.
func Delete(name string) error {
	path := Path(name)
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount netns %s: %w", name, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove netns %s: %w", name, err)
	}
	return nil
}
