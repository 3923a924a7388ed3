package metacluster

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Down removes everything the cluster created: its processes (by recorded PID, then every process
// left in its cgroup subtree or its network namespace: containers and containerd shims), its
// mounts, cgroups, network namespace, links and state directory. It is safe on a half-created or
// half-removed cluster and on none at all. The cache is kept.
func Down(c Config, out io.Writer) error {
	if err := c.Validate(); err != nil {
		return err
	}
	var errs []error
	// Daemons first, the kubelet before containerd so that it stops restarting containers.
	for _, name := range stopOrder {
		if err := c.stop(name, 10*time.Second); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", name, err))
		}
	}
	if err := deleteNodes(c, out); err != nil {
		errs = append(errs, err)
	}
	if err := killStragglers(out, CgroupRoot, netnsPath()); err != nil {
		errs = append(errs, err)
	}
	if err := unmountBelow(c.StateDir); err != nil {
		errs = append(errs, err)
	}
	if err := removeCgroupRoot(CgroupRoot); err != nil {
		errs = append(errs, err)
	}
	if err := deleteVPCNamespaces(); err != nil {
		errs = append(errs, err)
	}
	if err := teardownNetwork(); err != nil {
		errs = append(errs, err)
	}
	if err := c.restoreHostLimits(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		if err := os.RemoveAll(c.StateDir); err != nil {
			errs = append(errs, fmt.Errorf("remove state: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("down: %w", err)
	}
	fmt.Fprintf(out, "meta cluster removed (state %s deleted, cache %s kept)\n", c.StateDir, c.CacheDir)
	return nil
}

// killStragglers kills what outlives a node's daemons: the containers (in its kubelet's cgroup
// subtree) and containerd's shims (in the node's network namespace, which they inherit from
// containerd). Both are identified by membership, never by name.
func killStragglers(out io.Writer, cgroupRoot, netns string) error {
	for attempt := 0; attempt < 50; attempt++ {
		pids, err := cgroupPIDs(cgroupRoot)
		if err != nil {
			return err
		}
		nsPIDs, err := netnsPIDs(netns)
		if err != nil {
			return err
		}
		pids = append(pids, nsPIDs...)
		if len(pids) == 0 {
			return nil
		}
		if attempt == 0 {
			fmt.Fprintf(out, "killing %d leftover process(es) in cgroup %s and network namespace %s\n", len(pids), cgroupRoot, netns)
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("processes in cgroup %s or network namespace %s survive SIGKILL", cgroupRoot, netns)
}

// netnsPIDs lists the processes in the network namespace at path.
func netnsPIDs(path string) ([]int, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	want := fmt.Sprintf("net:[%d]", st.Ino)
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		if link, err := os.Readlink(filepath.Join("/proc", e.Name(), "ns", "net")); err == nil && link == want {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// unmountBelow detaches every mount under dir (Pod volumes, container root filesystems, sandbox
// network namespaces, shm), deepest first, until none is left.
func unmountBelow(dir string) error {
	prefix := filepath.Clean(dir) + "/"
	for attempt := 0; attempt < 10; attempt++ {
		mounts, err := readMountInfo()
		if err != nil {
			return err
		}
		var targets []string
		for _, m := range mounts {
			if strings.HasPrefix(m.mountPoint, prefix) {
				targets = append(targets, m.mountPoint)
			}
		}
		if len(targets) == 0 {
			return nil
		}
		sort.Slice(targets, func(i, j int) bool { return len(targets[i]) > len(targets[j]) })
		for _, t := range targets {
			_ = unix.Unmount(t, unix.MNT_DETACH)
		}
	}
	return fmt.Errorf("mounts under %s survive unmounting", dir)
}

// leftovers describes what of a cluster is still on the machine; empty when nothing is.
func leftovers(c Config) []string {
	var found []string
	if _, err := os.Stat(netnsPath()); err == nil {
		found = append(found, "network namespace "+NetnsName)
	}
	for _, name := range vpcNamespaces() {
		found = append(found, "network namespace "+name)
	}
	if _, err := os.Stat(filepath.Join("/sys/class/net", HostLink)); err == nil {
		found = append(found, "link "+HostLink)
	}
	if mounts, err := readMountInfo(); err == nil {
		for _, m := range mounts {
			if strings.HasPrefix(m.mountPoint, filepath.Clean(c.StateDir)+"/") {
				found = append(found, "mount "+m.mountPoint)
			}
		}
	}
	found = append(found, nodeLeftovers(c)...)
	if pids, err := cgroupPIDs(CgroupRoot); err == nil && len(pids) > 0 {
		found = append(found, fmt.Sprintf("%d process(es) in cgroup %s", len(pids), CgroupRoot))
	}
	if mounts, err := cgroupMounts(); err == nil {
		for _, mp := range mounts {
			if _, err := os.Stat(filepath.Join(mp, CgroupRoot)); err == nil {
				found = append(found, "cgroup "+filepath.Join(mp, CgroupRoot))
			}
		}
	}
	for _, name := range stopOrder {
		if rec, ok := c.running(name); ok {
			found = append(found, fmt.Sprintf("process %s (PID %d)", name, rec.pid))
		}
	}
	if _, err := os.Stat(c.StateDir); err == nil {
		found = append(found, "state directory "+c.StateDir)
	}
	return found
}
