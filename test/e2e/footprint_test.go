//go:build e2e

package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/taowa/taowa/hack/metacluster"
)

// footprint is what the local meta cluster holds on the machine while it runs.
type footprint struct {
	pids      map[int]string // PID -> what it is
	netnsInos []string       // network namespaces of the Pods and of the cluster
}

// clusterFootprint records the processes of the cluster: its daemons (PID files), every process
// in its network namespace (containerd shims) and in its Pods' cgroups, and the inodes of the
// network namespaces they use.
func clusterFootprint() (*footprint, error) {
	fp := &footprint{pids: map[int]string{}}
	runDir := filepath.Join(env.meta.StateDir, "run")
	files, err := os.ReadDir(runDir)
	if err != nil {
		return nil, fmt.Errorf("read PID files: %w", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(runDir, f.Name()))
		if err != nil {
			return nil, err
		}
		pid, _ := strconv.Atoi(strings.Fields(string(data))[0])
		fp.pids[pid] = strings.TrimSuffix(f.Name(), ".pid")
	}
	if len(fp.pids) < 8 {
		return nil, fmt.Errorf("only %d daemons recorded in %s", len(fp.pids), runDir)
	}
	procs, _ := os.ReadDir("/proc")
	inos := map[string]bool{}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		cg, _ := os.ReadFile(filepath.Join("/proc", p.Name(), "cgroup"))
		if strings.Contains(string(cg), ":"+metacluster.CgroupRoot+"/") {
			fp.pids[pid] = "container process"
			if ns, err := os.Readlink(filepath.Join("/proc", p.Name(), "ns", "net")); err == nil {
				inos[ns] = true
			}
		}
	}
	if len(inos) == 0 {
		return nil, errors.New("no container process found in the Pods' cgroups")
	}
	for ino := range inos {
		fp.netnsInos = append(fp.netnsInos, ino)
	}
	return fp, nil
}

// checkGone reports everything of fp and of the cluster that is still on the machine.
func (fp *footprint) checkGone() error {
	var left []string
	for pid, what := range fp.pids {
		if processRunning(pid) {
			left = append(left, fmt.Sprintf("process %d (%s)", pid, what))
		}
	}
	// Any process still in one of the recorded network namespaces keeps it alive.
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		ns, err := os.Readlink(filepath.Join("/proc", p.Name(), "ns", "net"))
		if err != nil {
			continue
		}
		for _, ino := range fp.netnsInos {
			if ns == ino {
				left = append(left, fmt.Sprintf("process %s in a Pod network namespace %s", p.Name(), ino))
			}
		}
	}
	mounts, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	defer mounts.Close()
	sc := bufio.NewScanner(mounts)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 4 && (strings.HasPrefix(f[4], env.meta.StateDir) || f[4] == "/run/netns/"+metacluster.NetnsName ||
			strings.Contains(f[4], metacluster.CgroupRoot)) {
			left = append(left, "mount "+f[4])
		}
	}
	for _, path := range []string{
		"/run/netns/" + metacluster.NetnsName,
		"/sys/class/net/" + metacluster.HostLink,
		env.meta.StateDir,
	} {
		if _, err := os.Stat(path); err == nil {
			left = append(left, path)
		}
	}
	for _, prefix := range []string{metacluster.VPCNetnsPrefix, metacluster.NodeNetnsPrefix} {
		namespaces, _ := filepath.Glob("/run/netns/" + prefix + "*")
		for _, ns := range namespaces {
			left = append(left, "network namespace "+ns)
		}
	}
	// The meta node's cgroups and the tenant worker nodes'.
	for _, root := range []string{metacluster.CgroupRoot, "/" + metacluster.NodeNetnsPrefix + "*"} {
		cgroups, _ := filepath.Glob("/sys/fs/cgroup/*" + root)
		more, _ := filepath.Glob("/sys/fs/cgroup/*/*" + root)
		for _, cg := range append(cgroups, more...) {
			left = append(left, "cgroup "+cg)
		}
	}
	if len(left) > 0 {
		return fmt.Errorf("left behind after down: %s", strings.Join(left, ", "))
	}
	return nil
}

// processRunning reports whether pid is a live process. A zombie is not: it holds nothing but its
// PID until its parent (for orphans, the machine's init) reaps it.
func processRunning(pid int) bool {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 || i+2 >= len(data) {
		return false
	}
	state := data[i+2]
	return state != 'Z' && state != 'X'
}
