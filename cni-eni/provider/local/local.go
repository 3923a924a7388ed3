// Package local simulates a tenant VPC on one machine, for development and
// tests. The VPC is a network namespace acting as its router: a bridge holds
// the subnet's gateway address and, on loopback, an optional tenant host
// address that is reached through the gateway. Each ENI is a veth pair whose
// node end, named <prefix><i>, sits in the node namespace like an attached
// NIC, and whose other end is a port of the VPC bridge. Create records the
// ENIs in the node's inventory; Delete undoes everything.
//
// Unlike a physical ENI, a veth is destroyed, not returned to the node, when
// the namespace holding it dies.
package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"

	"github.com/taowa/taowa/cni-eni/internal/namedns"
	"github.com/taowa/taowa/cni-eni/inventory"
)

const (
	bridgeName = "vpc0"
	// firstENIOffset leaves the low addresses of the subnet to the gateway
	// and other VPC infrastructure, as cloud providers do.
	firstENIOffset = 10
)

// Config describes a simulated VPC with one subnet.
type Config struct {
	// Name of the VPC namespace under /var/run/netns.
	Name string
	// NodeNetNS is the path of the node's namespace; empty means the
	// caller's.
	NodeNetNS string
	VPCID     string
	SubnetID  string
	VPCCIDR   netip.Prefix
	// SecondaryCIDRs are further ranges routed in the VPC, as a cloud VPC's secondary CIDRs or
	// route table entries are: for example the tenant's Pod ranges, each routed to its node.
	// ENIs route them like the VPC CIDR.
	SecondaryCIDRs []netip.Prefix
	// Subnet holds the ENI addresses; its first address is the gateway.
	Subnet netip.Prefix
	// HostAddress, if valid, is a tenant host in the VPC outside the
	// subnet.
	HostAddress   netip.Addr
	ENIs          int
	ENINamePrefix string
	MTU           int
	InventoryPath string
}

// routedCIDRs are the ranges an ENI routes through the VPC gateway.
func (c *Config) routedCIDRs() []netip.Prefix {
	cidrs := []netip.Prefix{c.VPCCIDR.Masked()}
	for _, p := range c.SecondaryCIDRs {
		cidrs = append(cidrs, p.Masked())
	}
	return cidrs
}

// Gateway returns the VPC gateway address of the subnet.
func (c *Config) Gateway() netip.Addr { return c.Subnet.Masked().Addr().Next() }

func (c *Config) validate() error {
	switch {
	case c.Name == "":
		return errors.New("name is empty")
	case c.VPCID == "" || c.SubnetID == "":
		return errors.New("vpc id and subnet id are required")
	case !c.VPCCIDR.IsValid() || !c.Subnet.IsValid():
		return errors.New("vpc cidr and subnet are required")
	case !c.VPCCIDR.Contains(c.Subnet.Addr()):
		return fmt.Errorf("subnet %s is outside vpc %s", c.Subnet, c.VPCCIDR)
	case slices.ContainsFunc(c.SecondaryCIDRs, func(p netip.Prefix) bool { return !p.IsValid() || p.Overlaps(c.VPCCIDR) }):
		return fmt.Errorf("secondary cidrs %v must be valid and outside vpc %s", c.SecondaryCIDRs, c.VPCCIDR)
	case c.ENIs < 1:
		return fmt.Errorf("eni count %d must be positive", c.ENIs)
	case c.InventoryPath == "":
		return errors.New("inventory path is empty")
	}
	last := c.Subnet.Masked().Addr()
	for range firstENIOffset + c.ENIs {
		last = last.Next()
	}
	if !c.Subnet.Contains(last) {
		return fmt.Errorf("subnet %s is too small for %d ENIs", c.Subnet, c.ENIs)
	}
	if len(c.ENINamePrefix)+len(fmt.Sprint(c.ENIs-1)) > 15 {
		return fmt.Errorf("eni name prefix %q is too long for link names", c.ENINamePrefix)
	}
	return nil
}

// Create builds the VPC, records its ENIs as attached to the node (what a
// cloud API would answer, read back by Provider) and adds them to the
// inventory, as the agent would, so that the plugin works without an agent.
// It returns the ENIs. On failure nothing is left behind.
func Create(cfg Config) (_ []inventory.ENI, err error) {
	if cfg.ENINamePrefix == "" {
		cfg.ENINamePrefix = "eni"
	}
	if cfg.MTU == 0 {
		cfg.MTU = 1500
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("local vpc %s: %w", cfg.Name, err)
	}
	nodeNS, err := openNodeNS(cfg.NodeNetNS)
	if err != nil {
		return nil, err
	}
	defer nodeNS.Close()
	vpcNS, err := namedns.Create(cfg.Name)
	if err != nil {
		return nil, err
	}
	defer vpcNS.Close()
	defer func() {
		if err != nil {
			err = errors.Join(err, Delete(cfg))
		}
	}()

	if err := vpcNS.Do(func(ns.NetNS) error { return setUpRouter(&cfg) }); err != nil {
		return nil, fmt.Errorf("local vpc %s: set up router: %w", cfg.Name, err)
	}
	var enis []inventory.ENI
	err = nodeNS.Do(func(ns.NetNS) error {
		enis, err = addENIs(&cfg, vpcNS)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("local vpc %s: %w", cfg.Name, err)
	}
	if err := vpcNS.Do(func(ns.NetNS) error { return plugPorts(cfg.ENIs) }); err != nil {
		return nil, fmt.Errorf("local vpc %s: plug ENIs into the router: %w", cfg.Name, err)
	}
	if err := writeRecord(cfg, enis); err != nil {
		return nil, fmt.Errorf("local vpc %s: %w", cfg.Name, err)
	}
	err = updateInventory(cfg.InventoryPath, true, func(inv *inventory.Inventory) {
		inv.ENIs = append(inv.ENIs, enis...)
	})
	if err != nil {
		return nil, fmt.Errorf("local vpc %s: %w", cfg.Name, err)
	}
	return enis, nil
}

// Delete removes the VPC's ENIs from the inventory and deletes the VPC
// namespace, which destroys every ENI veth wherever its node end is. It
// succeeds on a VPC that is partly or wholly gone.
func Delete(cfg Config) error {
	err := updateInventory(cfg.InventoryPath, false, func(inv *inventory.Inventory) {
		inv.ENIs = slices.DeleteFunc(inv.ENIs, func(e inventory.ENI) bool {
			return e.VPCID == cfg.VPCID && e.SubnetID == cfg.SubnetID
		})
	})
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	record := recordPath(RecordDir(cfg.InventoryPath), cfg.Name)
	if rerr := os.Remove(record); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
		err = errors.Join(err, fmt.Errorf("remove %s: %w", record, rerr))
	}
	return errors.Join(err, namedns.Delete(cfg.Name))
}

func openNodeNS(path string) (ns.NetNS, error) {
	if path == "" {
		return ns.GetCurrentNS()
	}
	nodeNS, err := ns.GetNS(path)
	if err != nil {
		return nil, fmt.Errorf("open node netns: %w", err)
	}
	return nodeNS, nil
}

// setUpRouter runs in the VPC namespace.
func setUpRouter(cfg *Config) error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return err
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return fmt.Errorf("set lo up: %w", err)
	}
	if cfg.HostAddress.IsValid() {
		host := netip.PrefixFrom(cfg.HostAddress, cfg.HostAddress.BitLen())
		if err := netlink.AddrAdd(lo, &netlink.Addr{IPNet: prefixIPNet(host)}); err != nil {
			return fmt.Errorf("add tenant host address %s: %w", host, err)
		}
	}
	bridge := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: bridgeName, MTU: cfg.MTU}}
	if err := netlink.LinkAdd(bridge); err != nil {
		return fmt.Errorf("add bridge: %w", err)
	}
	gateway := netip.PrefixFrom(cfg.Gateway(), cfg.Subnet.Bits())
	if err := netlink.AddrAdd(bridge, &netlink.Addr{IPNet: prefixIPNet(gateway)}); err != nil {
		return fmt.Errorf("add gateway address %s: %w", gateway, err)
	}
	return netlink.LinkSetUp(bridge)
}

// addENIs runs in the node namespace.
func addENIs(cfg *Config, vpcNS ns.NetNS) ([]inventory.ENI, error) {
	enis := make([]inventory.ENI, 0, cfg.ENIs)
	addr := cfg.Subnet.Masked().Addr()
	for range firstENIOffset {
		addr = addr.Next()
	}
	for i := range cfg.ENIs {
		name := fmt.Sprintf("%s%d", cfg.ENINamePrefix, i)
		veth := &netlink.Veth{
			LinkAttrs:     netlink.LinkAttrs{Name: name, MTU: cfg.MTU},
			PeerName:      portName(i),
			PeerNamespace: netlink.NsFd(int(vpcNS.Fd())),
		}
		if err := netlink.LinkAdd(veth); err != nil {
			return nil, fmt.Errorf("add ENI %s: %w", name, err)
		}
		link, err := netlink.LinkByName(name)
		if err != nil {
			return nil, fmt.Errorf("find ENI %s: %w", name, err)
		}
		if err := netlink.LinkSetUp(link); err != nil {
			return nil, fmt.Errorf("set ENI %s up: %w", name, err)
		}
		enis = append(enis, inventory.ENI{
			ID:         fmt.Sprintf("%s-eni-%d", cfg.SubnetID, i),
			MAC:        inventory.HardwareAddr(link.Attrs().HardwareAddr),
			HostIfName: name,
			VPCID:      cfg.VPCID,
			SubnetID:   cfg.SubnetID,
			Address:    netip.PrefixFrom(addr, cfg.Subnet.Bits()),
			Gateway:    cfg.Gateway(),
			MTU:        cfg.MTU,
			VPCCIDRs:   cfg.routedCIDRs(),
		})
		addr = addr.Next()
	}
	return enis, nil
}

// plugPorts runs in the VPC namespace.
func plugPorts(count int) error {
	bridge, err := netlink.LinkByName(bridgeName)
	if err != nil {
		return err
	}
	for i := range count {
		port, err := netlink.LinkByName(portName(i))
		if err != nil {
			return err
		}
		if err := netlink.LinkSetMaster(port, bridge); err != nil {
			return fmt.Errorf("attach %s to %s: %w", port.Attrs().Name, bridgeName, err)
		}
		if err := netlink.LinkSetUp(port); err != nil {
			return fmt.Errorf("set %s up: %w", port.Attrs().Name, err)
		}
	}
	return nil
}

func portName(i int) string { return fmt.Sprintf("port%d", i) }

// updateInventory applies edit to the inventory under the node lock,
// starting from an empty inventory if there is none yet and create is set.
func updateInventory(path string, create bool, edit func(*inventory.Inventory)) error {
	store := inventory.NewStore(path)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	unlock, err := store.Lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	inv, err := store.LoadInventory()
	if create && errors.Is(err, fs.ErrNotExist) {
		inv, err = &inventory.Inventory{Version: inventory.FormatVersion}, nil
	}
	if err != nil {
		return err
	}
	edit(inv)
	return store.SaveInventory(inv)
}

func prefixIPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// RecordDir is where Create records the local VPCs' ENIs: next to the
// inventory, in local-vpcs/<VPC name>.json.
func RecordDir(inventoryPath string) string {
	return filepath.Join(filepath.Dir(inventoryPath), "local-vpcs")
}

func recordPath(dir, name string) string { return filepath.Join(dir, name+".json") }

// record is the local provider's stand-in for a cloud API's list of the
// ENIs attached to the node.
type record struct {
	Name string          `json:"name"`
	ENIs []inventory.ENI `json:"enis"`
}

func writeRecord(cfg Config, enis []inventory.ENI) error {
	dir := RecordDir(cfg.InventoryPath)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	data, err := json.MarshalIndent(record{Name: cfg.Name, ENIs: enis}, "", "  ")
	if err != nil {
		return err
	}
	path := recordPath(dir, cfg.Name)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Lookup returns the ENIs recorded for the VPC namespace name next to the inventory at
// inventoryPath: what the VPC offers (subnet, gateway, routed CIDRs) to whatever joins it.
func Lookup(inventoryPath, name string) ([]inventory.ENI, error) {
	path := recordPath(RecordDir(inventoryPath), name)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("local vpc %s: %w", name, err)
	}
	var r record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("local vpc %s: record %s: %w", name, path, err)
	}
	if len(r.ENIs) == 0 {
		return nil, fmt.Errorf("local vpc %s: record %s lists no ENI", name, path)
	}
	return r.ENIs, nil
}

// Provider discovers the ENIs of the local VPCs recorded in Dir, for the
// node agent. A record whose VPC namespace is gone (deleted without Delete)
// is skipped: its ENIs died with it.
type Provider struct {
	Dir string
}

// Discover implements agent.Provider.
func (p Provider) Discover(context.Context) ([]inventory.ENI, error) {
	entries, err := os.ReadDir(p.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("local provider: %w", err)
	}
	var enis []inventory.ENI
	for _, entry := range entries {
		if entry.IsDir() || !strings.HasSuffix(entry.Name(), ".json") {
			continue
		}
		path := filepath.Join(p.Dir, entry.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("local provider: %w", err)
		}
		var r record
		if err := json.Unmarshal(data, &r); err != nil {
			return nil, fmt.Errorf("local provider: record %s: %w", path, err)
		}
		if _, err := os.Stat(namedns.Path(r.Name)); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		enis = append(enis, r.ENIs...)
	}
	return enis, nil
}
