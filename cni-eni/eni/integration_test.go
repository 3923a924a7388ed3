package eni_test

import (
	"encoding/json"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
)

func TestAddCheckDel(t *testing.T) {
	e := newTestEnv(t, 2)
	p := e.newPod(1)

	result := e.add(p)
	eni := e.requireAttached(p)
	require.Len(t, result.Interfaces, 2, "prevResult's eth0 and the ENI")
	require.Equal(t, "eth0", result.Interfaces[0].Name)
	require.Equal(t, "eth1", result.Interfaces[1].Name)
	require.Equal(t, eni.MAC.String(), result.Interfaces[1].Mac)
	require.Equal(t, p.netns.Path(), result.Interfaces[1].Sandbox)
	require.Equal(t, 1400, result.Interfaces[1].Mtu)
	require.Len(t, result.IPs, 2)
	require.Equal(t, eni.Address.String(), result.IPs[1].Address.String())
	require.Equal(t, 1, *result.IPs[1].Interface)
	require.NoError(t, e.check(p, result))

	t.Run("routing", func(t *testing.T) {
		for _, tc := range []struct {
			name     string
			src, dst netip.Addr
			want     string
		}{
			{"meta network stays on eth0", netip.Addr{}, p.metaGW, "eth0"},
			{"default route stays on eth0", netip.Addr{}, outsideHost, "eth0"},
			{"VPC CIDR goes through eth1", netip.Addr{}, vpcHost, "eth1"},
			{"subnet goes through eth1", netip.Addr{}, e.vpc.Gateway(), "eth1"},
			{"ENI-sourced traffic leaves by eth1", eni.Address.Addr(), outsideHost, "eth1"},
		} {
			dev, err := routeDev(p, tc.src, tc.dst)
			require.NoError(t, err, tc.name)
			require.Equal(t, tc.want, dev, tc.name)
		}
	})

	t.Run("traffic", func(t *testing.T) {
		vpcListener := listen(t, e.vpcNS, vpcHost)
		require.NoError(t, dial(p.netns, netip.Addr{}, vpcListener), "pod to VPC host")
		podListener := listen(t, p.netns, eni.Address.Addr())
		require.NoError(t, dial(e.vpcNS, vpcHost, podListener), "VPC host to pod ENI address")
		// The reply to a client outside the VPC CIDRs needs the source rule:
		// the main table would send it out of eth0.
		require.NoError(t, dial(e.vpcNS, outsideHost, podListener), "client beyond the VPC gateway to pod ENI address")
		nodeListener := listen(t, e.node, p.metaGW)
		require.NoError(t, dial(p.netns, netip.Addr{}, nodeListener), "pod to meta network over eth0")
	})

	e.del(p)
	e.requireAllHome(p)
	require.Error(t, e.check(p, result), "CHECK after DEL")
	e.del(p) // DEL is idempotent
	e.requireAllHome(p)

	// The ENI can be given again.
	e.add(p)
	require.Equal(t, eni.ID, e.requireAttached(p).ID)
	e.del(p)
	e.requireAllHome(p)
}

func TestCheckDetectsDrift(t *testing.T) {
	e := newTestEnv(t, 1)
	p := e.newPod(1)
	result := e.add(p)
	eni := e.requireAttached(p)
	require.NoError(t, p.netns.Do(func(ns.NetNS) error {
		rule := netlink.NewRule()
		rule.Src = hostNet(eni.Address.Addr())
		rule.Table, rule.Priority = 100, 1000
		return netlink.RuleDel(rule)
	}))
	err := e.check(p, result)
	requireCNIError(t, err, types.ErrInternal, "rule from "+eni.Address.Addr().String())
	// Without the rule, replies from the ENI address would leave by eth0.
	dev, err := routeDev(p, eni.Address.Addr(), outsideHost)
	require.NoError(t, err)
	require.Equal(t, "eth0", dev)
	e.del(p)
	e.requireAllHome(p)
}

func TestDelAfterNetNSDeleted(t *testing.T) {
	t.Run("physical ENI handed back by the kernel", func(t *testing.T) {
		e := newTestEnv(t, 1)
		p := e.newPod(1)
		e.add(p)
		e.simulateKernelReturn(p)
		e.deletePodNetNS(p)
		e.del(p)
		e.requireAllHome()
		e.del(p)
	})
	t.Run("virtual ENI destroyed with the namespace", func(t *testing.T) {
		e := newTestEnv(t, 2)
		p := e.newPod(1)
		e.add(p)
		lost := e.requireAttached(p)
		e.deletePodNetNS(p)
		e.del(p)
		allocs, err := e.store.LoadAllocations()
		require.NoError(t, err)
		require.Empty(t, allocs.ByENI)
		// The next sandbox gets the surviving ENI.
		next := e.newPod(2)
		e.add(next)
		require.NotEqual(t, lost.ID, e.requireAttached(next).ID)
		e.del(next)
	})
}

func TestKilledDuringAdd(t *testing.T) {
	for _, point := range []string{"after-claim", "after-move", "after-configure"} {
		for _, recovery := range []string{"DEL", "GC"} {
			t.Run(point+"/"+recovery, func(t *testing.T) {
				e := newTestEnv(t, 2)
				p := e.newPod(1)
				cmd := e.startPaused(p, point)
				require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
				_ = cmd.Wait()
				if recovery == "DEL" {
					e.del(p)
				} else {
					require.NoError(t, e.gc())
				}
				e.requireAllHome(p)
				// The node lock died with the process: the pod can retry.
				e.add(p)
				e.del(p)
				e.requireAllHome(p)
			})
		}
	}
}

func TestAddRetryReplacesStaleAttachment(t *testing.T) {
	e := newTestEnv(t, 2)
	p := e.newPod(1)
	cmd := e.startPaused(p, "after-configure")
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	e.add(p)
	e.requireAttached(p)
	allocs, err := e.store.LoadAllocations()
	require.NoError(t, err)
	require.Len(t, allocs.ByENI, 1)
	e.del(p)
	e.requireAllHome(p)
}

func TestConcurrentAdds(t *testing.T) {
	const enis, pods = 10, 50
	e := newTestEnv(t, enis)
	all := make([]*pod, pods)
	for i := range all {
		all[i] = e.newPod(i)
	}
	errs := make([]error, pods)
	var wg sync.WaitGroup
	for i, p := range all {
		wg.Go(func() {
			_, errs[i] = e.run(p.invocation("ADD", e.conf(nil)))
		})
	}
	wg.Wait()

	holders := map[string]string{}
	var succeeded []*pod
	for i, err := range errs {
		if err != nil {
			requireCNIError(t, err, types.ErrTryAgainLater, "no free ENI of vpc vpc-test subnet subnet-test: 10 in use")
			continue
		}
		eni := e.requireAttached(all[i])
		require.NotContains(t, holders, eni.ID, "ENI given twice")
		holders[eni.ID] = all[i].name
		succeeded = append(succeeded, all[i])
	}
	require.Len(t, succeeded, enis)

	for _, p := range all {
		wg.Go(func() {
			_, err := e.run(p.invocation("DEL", e.conf(nil)))
			require.NoError(t, err)
		})
	}
	wg.Wait()
	e.requireAllHome(all...)
}

func TestGC(t *testing.T) {
	e := newTestEnv(t, 3)
	keep, stale := e.newPod(1), e.newPod(2)
	keepResult := e.add(keep)
	e.add(stale)
	e.simulateKernelReturn(stale) // a stale sandbox whose netns died
	e.deletePodNetNS(stale)

	require.NoError(t, e.gc(keep))
	require.NoError(t, e.check(keep, keepResult))
	allocs, err := e.store.LoadAllocations()
	require.NoError(t, err)
	require.Len(t, allocs.ByENI, 1)

	require.NoError(t, e.gc())
	e.requireAllHome(keep)
}

func TestStatus(t *testing.T) {
	e := newTestEnv(t, 1)
	status := func() error {
		_, err := e.run(invocation{command: "STATUS", conf: e.conf(nil)})
		return err
	}
	require.NoError(t, status())
	p := e.newPod(1)
	e.add(p)
	requireCNIError(t, status(), types.ErrPluginNotAvailable, "no free ENI")
	e.del(p)
	require.NoError(t, status())
	good, err := os.ReadFile(e.store.InventoryPath)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(e.store.InventoryPath, []byte("{"), 0o644))
	requireCNIError(t, status(), types.ErrPluginNotAvailable, "inventory unreadable")
	require.NoError(t, os.WriteFile(e.store.InventoryPath, good, 0o644))
}

func TestBadConfig(t *testing.T) {
	e := newTestEnv(t, 1)
	p := e.newPod(1)
	for _, tc := range []struct {
		name      string
		overrides map[string]any
		code      uint
		msg       string
	}{
		{"relative inventory path", map[string]any{"inventoryPath": "inventory.json"}, types.ErrInvalidNetworkConfig, "inventoryPath"},
		{"main table", map[string]any{"routeTable": 254}, types.ErrInvalidNetworkConfig, "routeTable"},
		{"rule after main", map[string]any{"rulePriority": 40000}, types.ErrInvalidNetworkConfig, "rulePriority"},
		{"no VPC", map[string]any{"runtimeConfig": nil}, types.ErrInvalidNetworkConfig, "vpcID is missing"},
		{"subnet without VPC", map[string]any{"runtimeConfig": map[string]any{"subnetID": "s"}}, types.ErrInvalidNetworkConfig, "subnetID"},
		{"wrong type", map[string]any{"routeTable": "100"}, types.ErrDecodingFailure, "routeTable"},
		{"unknown subnet", map[string]any{"runtimeConfig": map[string]any{"vpcID": "vpc-test", "subnetID": "nope"}}, types.ErrTryAgainLater, "no ENI of vpc vpc-test subnet nope"},
	} {
		_, err := e.run(p.invocation("ADD", e.conf(tc.overrides)))
		requireCNIError(t, err, tc.code, tc.msg)
	}
	e.requireAllHome(p)
}

func TestSelectorSources(t *testing.T) {
	e := newTestEnv(t, 1)
	p := e.newPod(1)
	for _, tc := range []struct {
		name      string
		overrides map[string]any
		cniArgs   string
	}{
		{"args.cni", map[string]any{"runtimeConfig": nil, "args": map[string]any{"cni": map[string]any{"vpcID": "vpc-test"}}}, ""},
		{"CNI_ARGS", map[string]any{"runtimeConfig": nil}, "K8S_POD_NAME=master-0;vpcID=vpc-test;subnetID=subnet-test"},
		{"network default", map[string]any{"runtimeConfig": nil, "vpcID": "vpc-test"}, ""},
	} {
		inv := p.invocation("ADD", e.conf(tc.overrides))
		inv.env = []string{"CNI_ARGS=" + tc.cniArgs}
		_, err := e.run(inv)
		require.NoError(t, err, tc.name)
		e.requireAttached(p)
		e.del(p)
	}
	e.requireAllHome(p)
}

func TestVersion(t *testing.T) {
	e := newTestEnv(t, 1)
	out, err := e.run(invocation{command: "VERSION", conf: []byte(`{"cniVersion":"1.1.0"}`)})
	require.NoError(t, err)
	require.Contains(t, string(out), `"1.1.0"`)
	require.Contains(t, string(out), `"0.4.0"`)
}

func TestAddRollsBackAfterMove(t *testing.T) {
	e := newTestEnv(t, 1)
	p := e.newPod(1)
	// The sandbox already has an eth1: the ENI gets moved in, but the
	// rename fails there, so ADD must bring it back.
	require.NoError(t, p.netns.Do(func(ns.NetNS) error {
		return netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth1"}, PeerName: "eth1-peer"})
	}))
	_, err := e.run(p.invocation("ADD", e.conf(nil)))
	requireCNIError(t, err, types.ErrInternal, "as eth1")
	e.requireAllHome()
}

// Chained for every Pod of a node, the runtime passes eth0 to each plugin of the list: the ENI
// takes the configured name, GC and DEL key on the runtime's name, sandboxes that ask for no VPC
// pass through untouched, and STATUS stays available on a full node.
func TestChainedForEveryPod(t *testing.T) {
	e := newTestEnv(t, 1)
	chained := func(extra map[string]any) []byte {
		overrides := map[string]any{"ifName": "eth1", "vpcOptional": true}
		for k, v := range extra {
			overrides[k] = v
		}
		return e.conf(overrides)
	}
	asEth0 := func(p *pod, command string, conf []byte) invocation {
		inv := p.invocation(command, conf)
		inv.ifName = "eth0"
		return inv
	}

	withENI := e.newPod(1)
	out, err := e.run(asEth0(withENI, "ADD", chained(map[string]any{"prevResult": withENI.primaryResult()})))
	require.NoError(t, err)
	var result current.Result
	require.NoError(t, json.Unmarshal(out, &result))
	require.Len(t, result.Interfaces, 2)
	require.Equal(t, "eth1", result.Interfaces[1].Name, "the ENI takes the configured name, not CNI_IFNAME")
	e.requireAttached(withENI)
	raw, err := json.Marshal(&result)
	require.NoError(t, err)
	var prev map[string]any
	require.NoError(t, json.Unmarshal(raw, &prev))
	_, err = e.run(asEth0(withENI, "CHECK", chained(map[string]any{"prevResult": prev})))
	require.NoError(t, err)

	// The node's only ENI is taken; a Pod that asks for no VPC still gets its network.
	without := e.newPod(2)
	noVPC := map[string]any{"runtimeConfig": nil, "prevResult": without.primaryResult()}
	out, err = e.run(asEth0(without, "ADD", chained(noVPC)))
	require.NoError(t, err)
	var passed current.Result
	require.NoError(t, json.Unmarshal(out, &passed))
	require.Len(t, passed.Interfaces, 1, "prevResult unchanged")
	require.Equal(t, "eth0", passed.Interfaces[0].Name)
	_, err = e.run(asEth0(without, "CHECK", chained(noVPC)))
	require.NoError(t, err)
	_, err = e.run(invocation{command: "STATUS", conf: chained(nil)})
	require.NoError(t, err, "a full node still serves Pods without a VPC")
	_, err = e.run(asEth0(without, "DEL", chained(map[string]any{"runtimeConfig": nil})))
	require.NoError(t, err)

	// Without vpcOptional, the same Pod is an error naming what is missing.
	_, err = e.run(asEth0(without, "ADD", e.conf(noVPC)))
	requireCNIError(t, err, types.ErrInvalidNetworkConfig, "vpcID is missing")

	// GC keys on the runtime's attachment name (eth0): a valid attachment keeps its ENI.
	_, err = e.run(invocation{command: "GC", conf: chained(map[string]any{"cni.dev/valid-attachments": []any{
		map[string]any{"containerID": withENI.containerID, "ifname": "eth0"}}})})
	require.NoError(t, err)
	e.requireAttached(withENI)
	_, err = e.run(asEth0(withENI, "DEL", chained(nil)))
	require.NoError(t, err)
	e.requireAllHome(withENI)

	_, err = e.run(invocation{command: "ADD", containerID: "c", netns: withENI.netns.Path(), ifName: "eth0", conf: e.conf(map[string]any{"ifName": "eth1/x"})})
	requireCNIError(t, err, types.ErrInvalidNetworkConfig, `ifName "eth1/x" is not a valid interface name`)
}
