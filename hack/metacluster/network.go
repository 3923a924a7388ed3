package metacluster

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

func netnsPath() string { return filepath.Join("/run/netns", NetnsName) }

// run executes a command and returns an error that carries its output.
func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// setupNetwork creates the cluster's namespace, joins it to the host by a veth pair and routes the
// Pod and Service ranges into it.
func setupNetwork() error {
	link := fmt.Sprintf("%s/%d", hostIP, linkPrefixLen)
	node := fmt.Sprintf("%s/%d", NodeIP, linkPrefixLen)
	steps := [][]string{
		{"ip", "netns", "add", NetnsName},
		{"ip", "link", "add", HostLink, "type", "veth", "peer", "name", ClusterLink, "netns", NetnsName},
		{"ip", "addr", "add", link, "dev", HostLink},
		{"ip", "link", "set", HostLink, "up"},
		{"ip", "-n", NetnsName, "link", "set", "lo", "up"},
		{"ip", "-n", NetnsName, "addr", "add", node, "dev", ClusterLink},
		{"ip", "-n", NetnsName, "link", "set", ClusterLink, "up"},
		{"ip", "-n", NetnsName, "route", "add", "default", "via", hostIP.String()},
		{"ip", "route", "add", PodCIDR.String(), "via", NodeIP.String(), "dev", HostLink},
		{"ip", "route", "add", ServiceCIDR.String(), "via", NodeIP.String(), "dev", HostLink},
	}
	for _, s := range steps {
		if err := run(s[0], s[1:]...); err != nil {
			return fmt.Errorf("network setup: %w", err)
		}
	}
	// Pods on the bridge reach Services through kube-proxy's iptables rules only if bridged
	// traffic passes iptables; the kubelet's hairpin and NodePort paths need forwarding and
	// route_localnet.
	sysctls := map[string]string{
		"net/ipv4/ip_forward":                 "1",
		"net/ipv4/conf/all/route_localnet":    "1",
		"net/bridge/bridge-nf-call-iptables":  "1",
		"net/bridge/bridge-nf-call-ip6tables": "1",
	}
	for key, value := range sysctls {
		if err := run("nsenter", "--net="+netnsPath(), "--", "sh", "-c", fmt.Sprintf("echo %s > /proc/sys/%s", value, key)); err != nil {
			return fmt.Errorf("network setup: sysctl %s: %w", key, err)
		}
	}
	return nil
}

// teardownNetwork removes the host end of the veth pair (its peer and routes go with it) and then
// the namespace. A namespace lives on while a process is in it, so processes are stopped first.
// Both steps accept that the object is already gone: the kernel destroys a namespace's links
// asynchronously once its last user has left.
func teardownNetwork() error {
	var errs []string
	if err := run("ip", "link", "delete", HostLink); err != nil && !strings.Contains(err.Error(), "Cannot find device") {
		errs = append(errs, err.Error())
	}
	if _, err := os.Stat(netnsPath()); err == nil {
		if err := run("ip", "netns", "delete", NetnsName); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("network teardown: %s", strings.Join(errs, "; "))
	}
	return nil
}
