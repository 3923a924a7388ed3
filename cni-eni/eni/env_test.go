package eni_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"

	"github.com/taowa/taowa/cni-eni/internal/namedns"
	"github.com/taowa/taowa/cni-eni/inventory"
	"github.com/taowa/taowa/cni-eni/provider/local"
)

// pluginBinary is the eni plugin built with the enifault tag by TestMain.
var pluginBinary string

var (
	vpcCIDR     = netip.MustParsePrefix("10.240.0.0/16")
	subnet      = netip.MustParsePrefix("10.240.1.0/24")
	vpcHost     = netip.MustParseAddr("10.240.2.10")
	outsideHost = netip.MustParseAddr("192.0.2.10") // beyond the VPC, behind its gateway
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if os.Geteuid() != 0 {
		return m.Run() // integration tests skip themselves
	}
	dir, err := os.MkdirTemp("", "enitest-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	pluginBinary = filepath.Join(dir, "eni")
	build := exec.Command("go", "build", "-tags", "enifault", "-o", pluginBinary, "github.com/taowa/taowa/cni-eni/cmd/eni")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build eni plugin:", err)
		return 1
	}
	return m.Run()
}

// testEnv is a node namespace holding the ENIs of a local VPC, plus the pod
// namespaces a test makes. Everything is removed when the test ends.
type testEnv struct {
	t         testing.TB
	prefix    string
	node      ns.NetNS
	vpc       local.Config
	vpcNS     ns.NetNS
	enis      []inventory.ENI
	store     *inventory.Store
	mu        sync.Mutex
	processes []*os.Process
}

func newTestEnv(t testing.TB, eniCount int) *testEnv {
	t.Helper()
	if pluginBinary == "" {
		t.Skip("needs root for network namespaces")
	}
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	e := &testEnv{t: t, prefix: "enitest-" + hex.EncodeToString(suffix)}
	var err error
	e.node, err = namedns.Create(e.prefix + "-node")
	require.NoError(t, err)
	t.Cleanup(func() {
		e.node.Close()
		require.NoError(t, namedns.Delete(e.prefix+"-node"))
	})
	require.NoError(t, e.node.Do(func(ns.NetNS) error { return setLoopbackUp() }))

	inventoryPath := filepath.Join(t.TempDir(), "inventory.json")
	e.store = inventory.NewStore(inventoryPath)
	e.vpc = local.Config{
		Name:          e.prefix + "-vpc",
		NodeNetNS:     e.node.Path(),
		VPCID:         "vpc-test",
		SubnetID:      "subnet-test",
		VPCCIDR:       vpcCIDR,
		Subnet:        subnet,
		HostAddress:   vpcHost,
		ENIs:          eniCount,
		MTU:           1400,
		InventoryPath: inventoryPath,
	}
	e.enis, err = local.Create(e.vpc)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, local.Delete(e.vpc)) })
	e.vpcNS, err = ns.GetNS(namedns.Path(e.vpc.Name))
	require.NoError(t, err)
	t.Cleanup(func() { e.vpcNS.Close() })
	require.NoError(t, e.vpcNS.Do(func(ns.NetNS) error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		return netlink.AddrAdd(lo, &netlink.Addr{IPNet: hostNet(outsideHost)})
	}))
	// Registered last, so it runs first: no plugin may outlive the test.
	t.Cleanup(e.killProcesses)
	return e
}

// pod is a sandbox whose eth0 is a veth to the node: the meta network.
type pod struct {
	name, containerID string
	netns             ns.NetNS
	metaAddr, metaGW  netip.Addr
}

func (e *testEnv) newPod(i int) *pod {
	t := e.t
	t.Helper()
	p := &pod{
		name:        fmt.Sprintf("%s-pod%d", e.prefix, i),
		containerID: fmt.Sprintf("container-%d", i),
		metaGW:      netip.AddrFrom4([4]byte{198, 18, byte(i), 1}),
		metaAddr:    netip.AddrFrom4([4]byte{198, 18, byte(i), 2}),
	}
	var err error
	p.netns, err = namedns.Create(p.name)
	require.NoError(t, err)
	t.Cleanup(func() {
		p.netns.Close()
		require.NoError(t, namedns.Delete(p.name))
	})
	nodeSide := fmt.Sprintf("meta%d", i)
	require.NoError(t, e.node.Do(func(ns.NetNS) error {
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: nodeSide}, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(p.netns.Fd()))}
		if err := netlink.LinkAdd(veth); err != nil {
			return err
		}
		if err := netlink.AddrAdd(veth, &netlink.Addr{IPNet: prefixNet(netip.PrefixFrom(p.metaGW, 24))}); err != nil {
			return err
		}
		return netlink.LinkSetUp(veth)
	}))
	require.NoError(t, p.netns.Do(func(ns.NetNS) error {
		if err := setLoopbackUp(); err != nil {
			return err
		}
		eth0, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		if err := netlink.AddrAdd(eth0, &netlink.Addr{IPNet: prefixNet(netip.PrefixFrom(p.metaAddr, 24))}); err != nil {
			return err
		}
		if err := netlink.LinkSetUp(eth0); err != nil {
			return err
		}
		return netlink.RouteAdd(&netlink.Route{LinkIndex: eth0.Attrs().Index, Gw: net.IP(p.metaGW.AsSlice())})
	}))
	return p
}

// primaryResult is what a primary plugin would have returned for eth0.
func (p *pod) primaryResult() map[string]any {
	return map[string]any{
		"cniVersion": "1.1.0",
		"interfaces": []any{map[string]any{"name": "eth0", "sandbox": p.netns.Path()}},
		"ips":        []any{map[string]any{"address": netip.PrefixFrom(p.metaAddr, 24).String(), "gateway": p.metaGW.String(), "interface": 0}},
	}
}

// conf returns a network configuration for the env, with overrides.
func (e *testEnv) conf(overrides map[string]any) []byte {
	conf := map[string]any{
		"cniVersion":    "1.1.0",
		"name":          "tenant-vpc",
		"type":          "eni",
		"inventoryPath": e.store.InventoryPath,
		"runtimeConfig": map[string]any{"vpcID": "vpc-test", "subnetID": "subnet-test"},
	}
	for k, v := range overrides {
		if v == nil {
			delete(conf, k)
		} else {
			conf[k] = v
		}
	}
	data, err := json.Marshal(conf)
	require.NoError(e.t, err)
	return data
}

// invocation is one execution of a plugin binary, by default eni's.
type invocation struct {
	command, containerID, netns, ifName string
	conf                                []byte
	env                                 []string
	binary, cniPath                     string
}

func (p *pod) invocation(command string, conf []byte) invocation {
	return invocation{command: command, containerID: p.containerID, netns: p.netns.Path(), ifName: "eth1", conf: conf}
}

// start runs the plugin binary in the node namespace, as the runtime would
// on the node.
func (e *testEnv) start(inv invocation, stdout, stderr *bytes.Buffer) (*exec.Cmd, error) {
	if inv.binary == "" {
		inv.binary, inv.cniPath = pluginBinary, filepath.Dir(pluginBinary)
	}
	cmd := exec.Command(inv.binary)
	cmd.Env = append([]string{
		"CNI_COMMAND=" + inv.command,
		"CNI_CONTAINERID=" + inv.containerID,
		"CNI_NETNS=" + inv.netns,
		"CNI_IFNAME=" + inv.ifName,
		"CNI_PATH=" + inv.cniPath,
	}, inv.env...)
	cmd.Stdin = bytes.NewReader(inv.conf)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// A child inherits the network namespace of the thread that forks it.
	err := e.node.Do(func(ns.NetNS) error { return cmd.Start() })
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.processes = append(e.processes, cmd.Process)
	e.mu.Unlock()
	return cmd, nil
}

// pluginError is a CNI error the plugin printed.
type pluginError struct {
	cni    types.Error
	stderr string
}

func (e *pluginError) Error() string {
	return fmt.Sprintf("code %d: %s (%s) stderr: %s", e.cni.Code, e.cni.Msg, e.cni.Details, e.stderr)
}

// run executes the plugin and returns its stdout, or a *pluginError.
func (e *testEnv) run(inv invocation) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd, err := e.start(inv, &stdout, &stderr)
	if err != nil {
		return nil, err
	}
	if err := cmd.Wait(); err != nil {
		perr := &pluginError{stderr: stderr.String()}
		if jerr := json.Unmarshal(stdout.Bytes(), &perr.cni); jerr != nil {
			return nil, fmt.Errorf("%w; stdout %q stderr %q", err, stdout.String(), stderr.String())
		}
		return nil, perr
	}
	return stdout.Bytes(), nil
}

func (e *testEnv) add(p *pod) *current.Result {
	e.t.Helper()
	out, err := e.run(p.invocation("ADD", e.conf(map[string]any{"prevResult": p.primaryResult()})))
	require.NoError(e.t, err)
	var result current.Result
	require.NoError(e.t, json.Unmarshal(out, &result))
	return &result
}

func (e *testEnv) del(p *pod) {
	e.t.Helper()
	_, err := e.run(p.invocation("DEL", e.conf(nil)))
	require.NoError(e.t, err)
}

func (e *testEnv) check(p *pod, result *current.Result) error {
	raw, err := json.Marshal(result)
	require.NoError(e.t, err)
	var prev map[string]any
	require.NoError(e.t, json.Unmarshal(raw, &prev))
	_, err = e.run(p.invocation("CHECK", e.conf(map[string]any{"prevResult": prev})))
	return err
}

func (e *testEnv) gc(valid ...*pod) error {
	attachments := make([]any, 0, len(valid))
	for _, p := range valid {
		attachments = append(attachments, map[string]any{"containerID": p.containerID, "ifname": "eth1"})
	}
	_, err := e.run(invocation{command: "GC", conf: e.conf(map[string]any{"cni.dev/valid-attachments": attachments})})
	return err
}

// startPaused runs ADD until it reaches the fault point and returns the
// frozen process.
func (e *testEnv) startPaused(p *pod, point string) *exec.Cmd {
	t := e.t
	t.Helper()
	ready := filepath.Join(t.TempDir(), "ready")
	inv := p.invocation("ADD", e.conf(nil))
	inv.env = []string{"ENI_FAULT_POINT=" + point, "ENI_FAULT_READY=" + ready}
	var stdout, stderr bytes.Buffer
	cmd, err := e.start(inv, &stdout, &stderr)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, err := os.Stat(ready)
		return err == nil
	}, 10*time.Second, 2*time.Millisecond, "plugin never reached %s: %s", point, stderr.String())
	return cmd
}

func (e *testEnv) killProcesses() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, proc := range e.processes {
		if err := proc.Signal(syscall.SIGKILL); err == nil {
			_, _ = proc.Wait()
		}
	}
	e.processes = nil
}

// requireAllHome asserts that no ENI is allocated and every ENI sits on the
// node under its inventory name and MAC, up, without IPv4 addresses, and
// that no pod keeps an ENI, a rule or a route of it.
func (e *testEnv) requireAllHome(pods ...*pod) {
	t := e.t
	t.Helper()
	allocs, err := e.store.LoadAllocations()
	require.NoError(t, err)
	require.Empty(t, allocs.ByENI, "allocations left")
	require.NoError(t, e.node.Do(func(ns.NetNS) error {
		for _, eni := range e.enis {
			link, err := netlink.LinkByName(eni.HostIfName)
			if err != nil {
				return fmt.Errorf("ENI %s: %w", eni.HostIfName, err)
			}
			attrs := link.Attrs()
			if attrs.HardwareAddr.String() != eni.MAC.String() {
				return fmt.Errorf("ENI %s has MAC %s, want %s", eni.HostIfName, attrs.HardwareAddr, eni.MAC)
			}
			if attrs.Flags&net.FlagUp == 0 {
				return fmt.Errorf("ENI %s is down", eni.HostIfName)
			}
			addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
			if err != nil {
				return err
			}
			if len(addrs) > 0 {
				return fmt.Errorf("ENI %s keeps addresses %v", eni.HostIfName, addrs)
			}
		}
		return nil
	}))
	for _, p := range pods {
		require.NoError(t, p.netns.Do(func(ns.NetNS) error {
			links, err := netlink.LinkList()
			if err != nil {
				return err
			}
			for _, l := range links {
				if name := l.Attrs().Name; name != "lo" && name != "eth0" {
					return fmt.Errorf("pod %s keeps link %s", p.name, name)
				}
			}
			rules, err := netlink.RuleList(netlink.FAMILY_V4)
			if err != nil {
				return err
			}
			for _, r := range rules {
				if r.Table == 100 {
					return fmt.Errorf("pod %s keeps rule %v", p.name, r)
				}
			}
			return nil
		}), "pod %s", p.name)
	}
}

// requireAttached asserts the pod holds exactly one ENI as eth1 and returns
// it.
func (e *testEnv) requireAttached(p *pod) inventory.ENI {
	t := e.t
	t.Helper()
	var mac string
	require.NoError(t, p.netns.Do(func(ns.NetNS) error {
		link, err := netlink.LinkByName("eth1")
		if err != nil {
			return err
		}
		mac = link.Attrs().HardwareAddr.String()
		return nil
	}))
	i := slices.IndexFunc(e.enis, func(eni inventory.ENI) bool { return eni.MAC.String() == mac })
	require.GreaterOrEqual(t, i, 0, "pod %s holds unknown link %s", p.name, mac)
	return e.enis[i]
}

// simulateKernelReturn does to a pod's eth1 what the kernel does to a
// physical NIC when its namespace dies: move it to the initial namespace,
// here the node's, named after its index. Veth ENIs would die instead.
func (e *testEnv) simulateKernelReturn(p *pod) {
	t := e.t
	t.Helper()
	require.NoError(t, p.netns.Do(func(ns.NetNS) error {
		link, err := netlink.LinkByName("eth1")
		if err != nil {
			return err
		}
		if err := netlink.LinkSetDown(link); err != nil {
			return err
		}
		if err := netlink.LinkSetName(link, fmt.Sprintf("dev%d", link.Attrs().Index)); err != nil {
			return err
		}
		return netlink.LinkSetNsFd(link, int(e.node.Fd()))
	}))
}

func (e *testEnv) deletePodNetNS(p *pod) {
	e.t.Helper()
	require.NoError(e.t, namedns.Delete(p.name))
}

// dial connects from the namespace to addr:port, from src if valid, and
// reads the listener's greeting.
func dial(netns ns.NetNS, src netip.Addr, dst netip.AddrPort) error {
	return netns.Do(func(ns.NetNS) error {
		dialer := net.Dialer{Timeout: 3 * time.Second}
		if src.IsValid() {
			dialer.LocalAddr = &net.TCPAddr{IP: net.IP(src.AsSlice())}
		}
		conn, err := dialer.Dial("tcp", dst.String())
		if err != nil {
			return err
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
		buf := make([]byte, 5)
		if _, err := conn.Read(buf); err != nil {
			return fmt.Errorf("read greeting: %w", err)
		}
		if string(buf) != "hello" {
			return fmt.Errorf("unexpected greeting %q", buf)
		}
		return nil
	})
}

// listen serves a greeting on addr in the namespace until the test ends.
func listen(t testing.TB, netns ns.NetNS, addr netip.Addr) netip.AddrPort {
	t.Helper()
	var ln net.Listener
	require.NoError(t, netns.Do(func(ns.NetNS) error {
		var err error
		ln, err = net.Listen("tcp", netip.AddrPortFrom(addr, 0).String())
		return err
	}))
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = conn.Write([]byte("hello"))
			conn.Close()
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String())
}

// routeDev returns the device the pod routes dst through, from src if valid.
func routeDev(p *pod, src, dst netip.Addr) (string, error) {
	var dev string
	err := p.netns.Do(func(ns.NetNS) error {
		opts := &netlink.RouteGetOptions{}
		if src.IsValid() {
			opts.SrcAddr = net.IP(src.AsSlice())
		}
		routes, err := netlink.RouteGetWithOptions(net.IP(dst.AsSlice()), opts)
		if err != nil {
			return err
		}
		if len(routes) == 0 {
			return errors.New("no route")
		}
		link, err := netlink.LinkByIndex(routes[0].LinkIndex)
		if err != nil {
			return err
		}
		dev = link.Attrs().Name
		return nil
	})
	return dev, err
}

func setLoopbackUp() error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return err
	}
	return netlink.LinkSetUp(lo)
}

func prefixNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func hostNet(a netip.Addr) *net.IPNet { return prefixNet(netip.PrefixFrom(a, a.BitLen())) }

func requireCNIError(t testing.TB, err error, code uint, msgContains string) {
	t.Helper()
	var perr *pluginError
	require.ErrorAs(t, err, &perr)
	require.Equal(t, code, perr.cni.Code, "error %v", perr)
	require.Contains(t, perr.cni.Msg+" "+perr.cni.Details, msgContains)
}
