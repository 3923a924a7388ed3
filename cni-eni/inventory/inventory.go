// Package inventory is the on-disk record of a node's elastic network
// interfaces (ENIs) and of the sandboxes that hold them. It is shared by the
// eni CNI plugin, which hands ENIs to Pods, and the node agent, which attaches
// ENIs to the node and writes the inventory.
//
// Three files live side by side, by default under /var/lib/taowa/eni:
//
//	inventory.json       the ENIs attached to the node; written by the agent
//	allocations.json     which sandbox holds which ENI; written by the plugin
//	inventory.json.lock  flock(2) target serialising every read-modify-write
//
// inventory.json:
//
//	{
//	  "version": 1,
//	  "enis": [{
//	    "id": "eni-0a1b2c",            // provider's ENI id, unique on the node
//	    "mac": "02:00:0a:f0:01:0a",    // stable identity of the link
//	    "hostIfName": "eni0",          // link name while the ENI sits on the node
//	    "vpcID": "vpc-1",
//	    "subnetID": "subnet-1",
//	    "address": "10.240.1.10/24",   // primary address and subnet prefix length
//	    "gateway": "10.240.1.1",
//	    "mtu": 1500,                   // 0 keeps the link's MTU
//	    "vpcCIDRs": ["10.240.0.0/16"]  // routed through the gateway in the Pod
//	  }]
//	}
//
// allocations.json maps an ENI id to the attachment holding it:
//
//	{
//	  "version": 1,
//	  "allocations": {
//	    "eni-0a1b2c": {
//	      "network": "tenant-vpc",     // CNI network name, scopes GC
//	      "containerID": "4f2c…",
//	      "netns": "/var/run/netns/cni-…",
//	      "ifName": "eth1",
//	      "allocatedAt": "2026-01-02T03:04:05Z"
//	    }
//	  }
//	}
//
// An ENI is free when no allocation names it. Writers replace files
// atomically (temporary file and rename), so readers that only need a
// snapshot, such as a status probe, may skip the lock.
package inventory

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// FormatVersion is the version written to, and accepted from, both files.
const FormatVersion = 1

// Inventory lists the ENIs attached to a node.
type Inventory struct {
	Version int   `json:"version"`
	ENIs    []ENI `json:"enis"`
}

// ENI describes one elastic network interface attached to the node.
type ENI struct {
	ID         string         `json:"id"`
	MAC        HardwareAddr   `json:"mac"`
	HostIfName string         `json:"hostIfName"`
	VPCID      string         `json:"vpcID"`
	SubnetID   string         `json:"subnetID"`
	Address    netip.Prefix   `json:"address"`
	Gateway    netip.Addr     `json:"gateway"`
	MTU        int            `json:"mtu,omitempty"`
	VPCCIDRs   []netip.Prefix `json:"vpcCIDRs,omitempty"`
}

// Allocations records which attachment holds which ENI.
type Allocations struct {
	Version int `json:"version"`
	// ByENI maps an ENI id to the attachment holding it.
	ByENI map[string]Allocation `json:"allocations"`
}

// Allocation identifies the CNI attachment an ENI is given to.
type Allocation struct {
	Network     string    `json:"network"`
	ContainerID string    `json:"containerID"`
	NetNS       string    `json:"netns"`
	IfName      string    `json:"ifName"`
	AllocatedAt time.Time `json:"allocatedAt"`
}

// HardwareAddr is a MAC address that encodes as "02:00:0a:f0:01:0a" in JSON.
type HardwareAddr net.HardwareAddr

// MarshalText implements encoding.TextMarshaler.
func (a HardwareAddr) MarshalText() ([]byte, error) {
	return []byte(net.HardwareAddr(a).String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (a *HardwareAddr) UnmarshalText(text []byte) error {
	mac, err := net.ParseMAC(string(text))
	if err != nil {
		return err
	}
	*a = HardwareAddr(mac)
	return nil
}

func (a HardwareAddr) String() string { return net.HardwareAddr(a).String() }

// Validate reports every malformed or duplicated entry of the inventory.
func (inv *Inventory) Validate() error {
	if inv.Version != FormatVersion {
		return fmt.Errorf("unsupported inventory version %d, want %d", inv.Version, FormatVersion)
	}
	var errs []error
	ids := make(map[string]bool, len(inv.ENIs))
	macs := make(map[string]bool, len(inv.ENIs))
	for i, eni := range inv.ENIs {
		if err := eni.validate(); err != nil {
			errs = append(errs, fmt.Errorf("enis[%d]: %w", i, err))
			continue
		}
		if ids[eni.ID] {
			errs = append(errs, fmt.Errorf("enis[%d]: duplicate id %q", i, eni.ID))
		}
		if macs[eni.MAC.String()] {
			errs = append(errs, fmt.Errorf("enis[%d]: duplicate mac %s", i, eni.MAC))
		}
		ids[eni.ID], macs[eni.MAC.String()] = true, true
	}
	return errors.Join(errs...)
}

func (e *ENI) validate() error {
	switch {
	case e.ID == "":
		return errors.New("id is empty")
	case len(e.MAC) == 0:
		return fmt.Errorf("%s: mac is empty", e.ID)
	case e.HostIfName == "" || len(e.HostIfName) > 15:
		return fmt.Errorf("%s: hostIfName %q must have 1 to 15 characters", e.ID, e.HostIfName)
	case e.VPCID == "":
		return fmt.Errorf("%s: vpcID is empty", e.ID)
	case e.SubnetID == "":
		return fmt.Errorf("%s: subnetID is empty", e.ID)
	case !e.Address.IsValid():
		return fmt.Errorf("%s: address is missing", e.ID)
	case !e.Gateway.IsValid():
		return fmt.Errorf("%s: gateway is missing", e.ID)
	case e.Gateway.Is4() != e.Address.Addr().Is4():
		return fmt.Errorf("%s: gateway %s and address %s are of different families", e.ID, e.Gateway, e.Address)
	case !e.Address.Masked().Contains(e.Gateway):
		return fmt.Errorf("%s: gateway %s is outside subnet %s", e.ID, e.Gateway, e.Address.Masked())
	case e.MTU < 0:
		return fmt.Errorf("%s: mtu %d is negative", e.ID, e.MTU)
	}
	for _, cidr := range e.VPCCIDRs {
		if cidr.Addr().Is4() != e.Address.Addr().Is4() {
			return fmt.Errorf("%s: vpc cidr %s and address %s are of different families", e.ID, cidr, e.Address)
		}
	}
	return nil
}

// ENIHeldBy returns the id of the ENI held by the attachment (containerID,
// ifName) of the network, if any.
func (a *Allocations) ENIHeldBy(network, containerID, ifName string) (eniID string, ok bool) {
	for id, alloc := range a.ByENI {
		if alloc.Network == network && alloc.ContainerID == containerID && alloc.IfName == ifName {
			return id, true
		}
	}
	return "", false
}
