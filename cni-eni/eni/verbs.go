package eni

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"os"
	"slices"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"

	"github.com/taowa/taowa/cni-eni/inventory"
)

// Del returns the sandbox's ENI to the node. It succeeds when the sandbox,
// the ENI or the allocation is already gone, so it may be repeated.
func (p *Plugin) Del(args *skel.CmdArgs) error {
	conf, err := loadNetConf(args.StdinData)
	if err != nil {
		return err
	}
	if _, err := os.Stat(conf.InventoryPath); errors.Is(err, fs.ErrNotExist) {
		return nil // no inventory, so nothing can have been allocated
	}
	s, err := openSession(context.Background(), conf)
	if err != nil {
		return err
	}
	defer s.close()
	id, ok := s.allocs.ENIHeldBy(conf.Name, args.ContainerID, args.IfName)
	if !ok {
		return nil
	}
	// The allocation remembers the sandbox, as runtimes may omit CNI_NETNS
	// on DEL.
	return p.release(s, id, conf)
}

// Check verifies that the sandbox still holds its ENI as ADD left it.
func (p *Plugin) Check(args *skel.CmdArgs) error {
	conf, err := loadNetConf(args.StdinData)
	if err != nil {
		return err
	}
	ifName := conf.sandboxIfName(args.IfName)
	if _, err := os.Stat(conf.InventoryPath); conf.VPCOptional && errors.Is(err, fs.ErrNotExist) {
		return nil // no ENI on this node yet, so this sandbox holds none
	}
	store := inventory.NewStore(conf.InventoryPath)
	inv, err := store.LoadInventory()
	if err != nil {
		return types.NewError(types.ErrIOFailure, "read the node ENI inventory", err.Error())
	}
	allocs, err := store.LoadAllocations()
	if err != nil {
		return types.NewError(types.ErrIOFailure, "read the node ENI allocations", err.Error())
	}
	id, ok := allocs.ENIHeldBy(conf.Name, args.ContainerID, args.IfName)
	if !ok && conf.VPCOptional {
		return nil // a sandbox that asked for no VPC
	}
	if !ok {
		return types.NewError(types.ErrUnknownContainer, fmt.Sprintf("container %s holds no ENI as %s", args.ContainerID, args.IfName), "")
	}
	if err := checkPrevResult(conf, ifName); err != nil {
		return err
	}
	i := slices.IndexFunc(inv.ENIs, func(e inventory.ENI) bool { return e.ID == id })
	if i < 0 {
		return fmt.Errorf("ENI %s held by container %s is no longer in the inventory", id, args.ContainerID)
	}
	eni := &inv.ENIs[i]
	podNS, err := ns.GetNS(args.Netns)
	if err != nil {
		return types.NewError(types.ErrInvalidNetNS, fmt.Sprintf("open netns %q", args.Netns), err.Error())
	}
	defer podNS.Close()
	return podNS.Do(func(ns.NetNS) error {
		link, err := netlinksafe.LinkByName(ifName)
		if err != nil {
			return fmt.Errorf("ENI %s: find %s: %w", id, ifName, err)
		}
		attrs := link.Attrs()
		switch {
		case !hasMAC(link, net.HardwareAddr(eni.MAC)):
			return fmt.Errorf("ENI %s: %s has MAC %s, want %s", id, ifName, attrs.HardwareAddr, eni.MAC)
		case eni.MTU > 0 && attrs.MTU != eni.MTU:
			return fmt.Errorf("ENI %s: %s has MTU %d, want %d", id, ifName, attrs.MTU, eni.MTU)
		case attrs.Flags&net.FlagUp == 0:
			return fmt.Errorf("ENI %s: %s is down", id, ifName)
		}
		if err := (sandboxRoutes{eni: eni, table: conf.RouteTable, priority: conf.RulePriority}).check(link); err != nil {
			return fmt.Errorf("ENI %s: %w", id, err)
		}
		return nil
	})
}

// checkPrevResult requires the chain's result to list the ENI interface.
func checkPrevResult(conf *NetConf, ifName string) error {
	if conf.PrevResult == nil {
		return types.NewError(types.ErrInvalidNetworkConfig, "invalid eni configuration: prevResult is required by CHECK", "")
	}
	result, err := current.NewResultFromResult(conf.PrevResult)
	if err != nil {
		return types.NewError(types.ErrDecodingFailure, "convert prevResult", err.Error())
	}
	for _, iface := range result.Interfaces {
		if iface.Name == ifName && iface.Sandbox != "" {
			return nil
		}
	}
	return fmt.Errorf("prevResult lists no sandbox interface %s", ifName)
}

// GC releases the ENIs of this network held by attachments missing from
// cni.dev/valid-attachments, and puts free ENIs that a vanished sandbox
// left renamed or down back in order.
func (p *Plugin) GC(args *skel.CmdArgs) error {
	conf, err := loadNetConf(args.StdinData)
	if err != nil {
		return err
	}
	if _, err := os.Stat(conf.InventoryPath); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	valid := make(map[types.GCAttachment]bool, len(conf.ValidAttachments))
	for _, a := range conf.ValidAttachments {
		valid[a] = true
	}
	s, err := openSession(context.Background(), conf)
	if err != nil {
		return err
	}
	defer s.close()

	var errs []error
	for _, id := range slices.Sorted(maps.Keys(s.allocs.ByENI)) {
		alloc := s.allocs.ByENI[id]
		if alloc.Network != conf.Name || valid[types.GCAttachment{ContainerID: alloc.ContainerID, IfName: alloc.IfName}] {
			continue
		}
		if err := p.release(s, id, conf); err != nil {
			errs = append(errs, fmt.Errorf("release ENI %s of stale container %s: %w", id, alloc.ContainerID, err))
		}
	}
	for i := range s.inv.ENIs {
		eni := &s.inv.ENIs[i]
		if _, held := s.allocs.ByENI[eni.ID]; held {
			continue
		}
		if err := restoreOnNode(eni); err != nil && !errors.Is(err, errLinkNotFound) {
			errs = append(errs, fmt.Errorf("restore free ENI %s: %w", eni.ID, err))
		}
	}
	return errors.Join(errs...)
}

// Status reports the plugin unavailable when the inventory cannot be read
// or no ENI is free, so the runtime stops scheduling sandboxes that would
// fail ADD.
func (p *Plugin) Status(args *skel.CmdArgs) error {
	conf, err := loadNetConf(args.StdinData)
	if err != nil {
		return err
	}
	if conf.VPCOptional {
		return nil // sandboxes without a VPC work whatever the ENIs' state (see VPCOptional)
	}
	// Both files are replaced atomically, so a snapshot needs no lock.
	store := inventory.NewStore(conf.InventoryPath)
	inv, err := store.LoadInventory()
	if err != nil {
		return types.NewError(types.ErrPluginNotAvailable, "ENI inventory unreadable", err.Error())
	}
	allocs, err := store.LoadAllocations()
	if err != nil {
		return types.NewError(types.ErrPluginNotAvailable, "ENI allocations unreadable", err.Error())
	}
	for _, eni := range inv.ENIs {
		if _, held := allocs.ByENI[eni.ID]; !held {
			return nil
		}
	}
	return types.NewError(types.ErrPluginNotAvailable, fmt.Sprintf("no free ENI on this node: all %d are allocated", len(inv.ENIs)), "")
}
