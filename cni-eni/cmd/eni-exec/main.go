// Command eni-exec starts a program with the address of the Pod's ENI as a flag: the address is
// only known once the eni CNI plugin has attached the ENI, after the Pod spec was written, and the
// downward API lists only the primary network's addresses. The tenant-master chart runs
// kube-apiserver through it so that the apiserver advertises its ENI address to the tenant (the
// `kubernetes` Service's endpoints), which the tenant's nodes reach in their VPC.
//
//	eni-exec install DIR           copy this binary to DIR/eni-exec (an init container does it)
//	eni-exec PROGRAM [ARG...]      exec PROGRAM ARG... --$ENI_EXEC_FLAG=<address of $ENI_EXEC_INTERFACE>
//
// The settings come from the environment so that PROGRAM's flags stay where a post-renderer
// expects them (the container's args): ENI_EXEC_INTERFACE (default eth1), ENI_EXEC_FLAG (default
// advertise-address), ENI_EXEC_TIMEOUT (default 30s, how long to wait for the address).
package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "eni-exec:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 2 && args[0] == "install" {
		return install(args[1])
	}
	if len(args) == 0 {
		return errors.New("usage: eni-exec install DIR | eni-exec PROGRAM [ARG...]")
	}
	ifName := getenv("ENI_EXEC_INTERFACE", "eth1")
	flagName := getenv("ENI_EXEC_FLAG", "advertise-address")
	timeout, err := time.ParseDuration(getenv("ENI_EXEC_TIMEOUT", "30s"))
	if err != nil {
		return fmt.Errorf("ENI_EXEC_TIMEOUT: %w", err)
	}
	addr, err := waitForAddress(ifName, timeout)
	if err != nil {
		return err
	}
	program, err := exec.LookPath(args[0])
	if err != nil {
		return err
	}
	argv := append(append([]string{args[0]}, args[1:]...), fmt.Sprintf("--%s=%s", flagName, addr))
	fmt.Fprintf(os.Stderr, "eni-exec: %s has %s: starting %s with --%s=%s\n", ifName, addr, args[0], flagName, addr)
	return syscall.Exec(program, argv, os.Environ())
}

// waitForAddress returns the first global unicast address of the interface, IPv4 first.
func waitForAddress(ifName string, timeout time.Duration) (net.IP, error) {
	deadline := time.Now().Add(timeout)
	for {
		ip, err := globalAddress(ifName)
		if err == nil {
			return ip, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no address on %s after %s (is the Pod's ENI attached? the eni CNI plugin names it): %w", ifName, timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func globalAddress(ifName string) (net.IP, error) {
	iface, err := net.InterfaceByName(ifName)
	if err != nil {
		return nil, err
	}
	addrs, err := iface.Addrs()
	if err != nil {
		return nil, err
	}
	var v6 net.IP
	for _, a := range addrs {
		ipNet, ok := a.(*net.IPNet)
		if !ok || !ipNet.IP.IsGlobalUnicast() {
			continue
		}
		if ipNet.IP.To4() != nil {
			return ipNet.IP, nil
		}
		if v6 == nil {
			v6 = ipNet.IP
		}
	}
	if v6 != nil {
		return v6, nil
	}
	return nil, errors.New("no global unicast address yet")
}

// install copies this binary into dir, for a container whose image lacks it.
func install(dir string) error {
	self, err := os.Open("/proc/self/exe")
	if err != nil {
		return err
	}
	defer self.Close()
	dst := filepath.Join(dir, "eni-exec")
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return fmt.Errorf("install: %w", err)
	}
	if _, err := io.Copy(out, self); err != nil {
		out.Close()
		return fmt.Errorf("install %s: %w", dst, err)
	}
	return out.Close()
}

func getenv(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}
