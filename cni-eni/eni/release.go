package eni

import (
	"errors"
	"fmt"
	"net"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"

	"github.com/taowa/taowa/cni-eni/inventory"
)

// release returns the ENI of allocation id to the node and forgets the
// allocation. The allocation is kept when the device cannot be returned, so
// that a later DEL or GC retries.
func (p *Plugin) release(s *session, id string, conf *NetConf) error {
	alloc := s.allocs.ByENI[id]
	// An ENI the agent removed from the inventory has nothing to return.
	if eni := s.eni(id); eni != nil {
		routes := sandboxRoutes{eni: eni, table: conf.RouteTable, priority: conf.RulePriority}
		err := detach(eni, alloc.NetNS, routes)
		if errors.Is(err, errLinkNotFound) {
			// Virtual devices die with their namespace; the agent must
			// replace the ENI, and until then ADD skips it.
			fmt.Fprintf(p.warnings, "eni: ENI %s (%s) of container %s is gone from the node; releasing it anyway\n", eni.ID, eni.MAC, alloc.ContainerID)
		} else if err != nil {
			return fmt.Errorf("return ENI %s to the node: %w", eni.ID, err)
		}
	}
	delete(s.allocs.ByENI, id)
	return s.save()
}

// detach moves the ENI out of the sandbox at netnsPath, if it is there, and
// leaves it on the node under its inventory name and MAC, up. When the
// sandbox is gone the kernel has already handed a physical ENI back to the
// node's initial namespace under a name like "dev7"; it is found by MAC.
func detach(eni *inventory.ENI, netnsPath string, routes sandboxRoutes) error {
	mac := net.HardwareAddr(eni.MAC)
	podNS, err := ns.GetNS(netnsPath)
	switch {
	case err == nil:
		err = podNS.Do(func(hostNS ns.NetNS) error {
			link, err := findLink(mac, "")
			if errors.Is(err, errLinkNotFound) {
				return nil // never moved in, or already out
			}
			if err != nil {
				return err
			}
			if err := routes.removeRule(); err != nil {
				return err
			}
			out := linkChange{index: link.Attrs().Index, netnsFD: int(hostNS.Fd()), name: eni.HostIfName, mtu: eni.MTU, mac: mac, up: true}
			if err := out.apply(); err != nil {
				return fmt.Errorf("move %s back to the node as %s: %w", link.Attrs().Name, eni.HostIfName, err)
			}
			return nil
		})
		podNS.Close()
		if err != nil {
			return fmt.Errorf("in sandbox %s: %w", netnsPath, err)
		}
	case !isNetNSGone(err):
		return fmt.Errorf("open sandbox netns %s: %w", netnsPath, err)
	}
	return restoreOnNode(eni)
}

// restoreOnNode gives the ENI's link on the node its inventory name and MAC
// and brings it up.
func restoreOnNode(eni *inventory.ENI) error {
	mac := net.HardwareAddr(eni.MAC)
	link, err := findLink(mac, eni.HostIfName)
	if err != nil {
		return err
	}
	attrs := link.Attrs()
	if attrs.Name == eni.HostIfName && attrs.Flags&net.FlagUp != 0 && attrs.HardwareAddr.String() == mac.String() {
		return nil
	}
	// The kernel refuses to rename a device that is up.
	if attrs.Name != eni.HostIfName && attrs.Flags&net.FlagUp != 0 {
		if err := netlink.LinkSetDown(link); err != nil {
			return fmt.Errorf("set %s down: %w", attrs.Name, err)
		}
	}
	restore := linkChange{index: attrs.Index, netnsFD: -1, name: eni.HostIfName, mac: mac, up: true}
	if err := restore.apply(); err != nil {
		return fmt.Errorf("restore %s as %s: %w", attrs.Name, eni.HostIfName, err)
	}
	return nil
}

func isNetNSGone(err error) bool {
	var notExist ns.NSPathNotExistErr
	var notNS ns.NSPathNotNSErr
	return errors.As(err, &notExist) || errors.As(err, &notNS)
}
