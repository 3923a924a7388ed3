// Package eni implements the eni CNI plugin, which gives a sandbox one of
// the node's elastic network interfaces (ENIs) as an extra interface.
//
// The plugin is meant to be chained after the primary plugin: it leaves
// eth0 and the main default route alone, moves a free ENI of the requested
// VPC subnet into the sandbox, routes the VPC CIDRs through it and adds a
// source rule so that traffic from the ENI address leaves through the ENI.
// The node's ENIs and their holders are recorded by package inventory.
package eni

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"

	"github.com/taowa/taowa/cni-eni/inventory"
)

// lockTimeout bounds the wait for the node lock; every holder only does a
// handful of netlink calls, so reaching it means something is wedged.
const lockTimeout = 30 * time.Second

// Plugin implements the CNI verbs. The zero value is not usable; use New.
type Plugin struct {
	resolver Resolver
	// warnings receives problems that must not fail the operation, such as
	// an ENI that vanished with its sandbox; the runtime logs stderr.
	warnings io.Writer
}

// New returns a plugin that chooses VPCs through resolver.
func New(resolver Resolver) *Plugin {
	return &Plugin{resolver: resolver, warnings: os.Stderr}
}

// Funcs returns the plugin's verbs for skel.PluginMainFuncs.
func (p *Plugin) Funcs() skel.CNIFuncs {
	return skel.CNIFuncs{Add: p.Add, Del: p.Del, Check: p.Check, GC: p.GC, Status: p.Status}
}

// session is one locked read-modify-write of the node's ENI state.
type session struct {
	store  *inventory.Store
	inv    *inventory.Inventory
	allocs *inventory.Allocations
	unlock func() error
}

func openSession(ctx context.Context, conf *NetConf) (*session, error) {
	store := inventory.NewStore(conf.InventoryPath)
	ctx, cancel := context.WithTimeout(ctx, lockTimeout)
	defer cancel()
	unlock, err := store.Lock(ctx)
	if err != nil {
		return nil, types.NewError(types.ErrTryAgainLater, "take the node ENI lock", err.Error())
	}
	s := &session{store: store, unlock: unlock}
	if s.inv, err = store.LoadInventory(); err == nil {
		s.allocs, err = store.LoadAllocations()
	}
	if err != nil {
		unlock()
		return nil, types.NewError(types.ErrIOFailure, "read the node ENI state", err.Error())
	}
	return s, nil
}

// close releases the node lock; the kernel would drop it at exit anyway.
func (s *session) close() { _ = s.unlock() }

func (s *session) eni(id string) *inventory.ENI {
	for i := range s.inv.ENIs {
		if s.inv.ENIs[i].ID == id {
			return &s.inv.ENIs[i]
		}
	}
	return nil
}

func (s *session) save() error {
	if err := s.store.SaveAllocations(s.allocs); err != nil {
		return types.NewError(types.ErrIOFailure, "record ENI allocations", err.Error())
	}
	return nil
}

// Add gives the sandbox a free ENI of the selected VPC subnet.
func (p *Plugin) Add(args *skel.CmdArgs) error {
	conf, err := loadNetConf(args.StdinData)
	if err != nil {
		return err
	}
	ctx := context.Background()
	selector, err := p.resolver.Resolve(ctx, ResolveRequest{ContainerID: args.ContainerID, IfName: args.IfName, CNIArgs: args.Args, Conf: conf})
	if conf.VPCOptional && errors.Is(err, errNoVPC) {
		return passThrough(conf)
	}
	if err != nil {
		return err
	}
	podNS, err := ns.GetNS(args.Netns)
	if err != nil {
		return types.NewError(types.ErrInvalidNetNS, fmt.Sprintf("open netns %q", args.Netns), err.Error())
	}
	defer podNS.Close()

	s, err := openSession(ctx, conf)
	if err != nil {
		return err
	}
	defer s.close()

	// A runtime retrying an ADD without a DEL gets a fresh attachment.
	if id, ok := s.allocs.ENIHeldBy(conf.Name, args.ContainerID, args.IfName); ok {
		if err := p.release(s, id, conf); err != nil {
			return fmt.Errorf("release ENI %s of the previous attempt: %w", id, err)
		}
	}
	eni, hostLink, err := s.pickFree(selector)
	if err != nil {
		return err
	}
	s.allocs.ByENI[eni.ID] = inventory.Allocation{
		Network:     conf.Name,
		ContainerID: args.ContainerID,
		NetNS:       args.Netns,
		IfName:      args.IfName,
		AllocatedAt: time.Now().UTC(),
	}
	// Recording the claim before touching the device lets DEL and GC find
	// the ENI whatever step a killed plugin reached.
	if err := s.save(); err != nil {
		return err
	}
	faultPoint("after-claim")

	ifName := conf.sandboxIfName(args.IfName)
	link, err := attach(hostLink, eni, podNS, ifName, conf)
	if err != nil {
		if rerr := p.release(s, eni.ID, conf); rerr != nil {
			return fmt.Errorf("attach ENI %s: %w (rollback failed, DEL or GC will retry: %v)", eni.ID, err, rerr)
		}
		return fmt.Errorf("attach ENI %s: %w", eni.ID, err)
	}
	result, err := newResult(conf, eni, link, args.Netns, ifName)
	if err != nil {
		return err
	}
	return types.PrintResult(result, conf.CNIVersion)
}

// pickFree returns the first unallocated ENI matching selector whose link
// is on the node. ENIs missing from the node (detached, or lost with a
// sandbox) are skipped until the agent brings them back.
func (s *session) pickFree(selector Selector) (*inventory.ENI, netlink.Link, error) {
	matching, held, missing := 0, 0, 0
	for i := range s.inv.ENIs {
		eni := &s.inv.ENIs[i]
		if !selector.matches(eni.VPCID, eni.SubnetID) {
			continue
		}
		matching++
		if _, ok := s.allocs.ByENI[eni.ID]; ok {
			held++
			continue
		}
		link, err := findLink(net.HardwareAddr(eni.MAC), eni.HostIfName)
		if errors.Is(err, errLinkNotFound) {
			missing++
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("find link of ENI %s: %w", eni.ID, err)
		}
		return eni, link, nil
	}
	if matching == 0 {
		return nil, nil, types.NewError(types.ErrTryAgainLater, fmt.Sprintf("no ENI of %s on this node", selector), "")
	}
	return nil, nil, types.NewError(types.ErrTryAgainLater,
		fmt.Sprintf("no free ENI of %s: %d in use, %d missing from the node", selector, held, missing), "")
}

// attach moves the ENI into the sandbox under ifName and configures it
// there. On failure the device may be anywhere; the caller's release finds
// it by MAC.
func attach(hostLink netlink.Link, eni *inventory.ENI, podNS ns.NetNS, ifName string, conf *NetConf) (netlink.Link, error) {
	move := linkChange{index: hostLink.Attrs().Index, netnsFD: int(podNS.Fd()), name: ifName, mtu: eni.MTU, up: true}
	if err := move.apply(); err != nil {
		return nil, fmt.Errorf("move %s into %s as %s: %w", hostLink.Attrs().Name, podNS.Path(), ifName, err)
	}
	faultPoint("after-move")
	var link netlink.Link
	err := podNS.Do(func(ns.NetNS) error {
		var err error
		if link, err = findLink(net.HardwareAddr(eni.MAC), ifName); err != nil {
			return err
		}
		return sandboxRoutes{eni: eni, table: conf.RouteTable, priority: conf.RulePriority}.configure(link)
	})
	if err != nil {
		return nil, fmt.Errorf("configure %s in %s: %w", ifName, podNS.Path(), err)
	}
	faultPoint("after-configure")
	return link, nil
}

// passThrough prints the chain's result unchanged: the sandbox asked for no VPC.
func passThrough(conf *NetConf) error {
	if conf.PrevResult == nil {
		return types.PrintResult(&current.Result{CNIVersion: current.ImplementedSpecVersion}, conf.CNIVersion)
	}
	return types.PrintResult(conf.PrevResult, conf.CNIVersion)
}

func newResult(conf *NetConf, eni *inventory.ENI, link netlink.Link, netnsPath, ifName string) (*current.Result, error) {
	result := &current.Result{CNIVersion: current.ImplementedSpecVersion}
	if conf.PrevResult != nil {
		var err error
		if result, err = current.NewResultFromResult(conf.PrevResult); err != nil {
			return nil, types.NewError(types.ErrDecodingFailure, "convert prevResult", err.Error())
		}
	}
	index := len(result.Interfaces)
	result.Interfaces = append(result.Interfaces, &current.Interface{
		Name:    ifName,
		Mac:     eni.MAC.String(),
		Mtu:     link.Attrs().MTU,
		Sandbox: netnsPath,
	})
	gateway := net.IP(eni.Gateway.AsSlice())
	result.IPs = append(result.IPs, &current.IPConfig{Interface: &index, Address: *ipNet(eni.Address), Gateway: gateway})
	for _, cidr := range eni.VPCCIDRs {
		result.Routes = append(result.Routes, &types.Route{Dst: *ipNet(cidr.Masked()), GW: gateway})
	}
	return result, nil
}
