package metacluster

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/taowa/taowa/cni-eni/inventory"
	"github.com/taowa/taowa/cni-eni/provider/local"
)

// The meta cluster's node hands tenant master Pods ENIs of simulated tenant VPCs (cni-eni's local
// provider): each VPC is a network namespace named VPCNetnsPrefix+name whose ENIs are veth pairs
// with their node end in the cluster's namespace. The eni CNI plugin, chained after the bridge for
// every Pod, gives one to each Pod that asks for a VPC; the taowa-eni-agent DaemonSet advertises
// them on the Node.
const VPCNetnsPrefix = "taowa-meta-vpc-"

// VPC describes a simulated tenant VPC with one subnet.
type VPC struct {
	Name, VPCID, SubnetID string
	VPCCIDR, Subnet       netip.Prefix
	// SecondaryCIDRs are routed in the VPC too: the tenant's Pod range, each node's part of it
	// routed to that node.
	SecondaryCIDRs []netip.Prefix
	// HostAddress is a tenant host inside the VPC namespace, outside the subnet.
	HostAddress netip.Addr
	ENIs        int
}

// ENIInventoryPath is the node's ENI inventory: the eni plugin's inventoryPath; the agent's
// inventory directory is its parent.
func (c Config) ENIInventoryPath() string { return c.path("eni", "inventory.json") }

func (c Config) localVPC(v VPC) local.Config {
	short := v.Name
	if len(short) > 6 {
		short = short[:6]
	}
	return local.Config{
		Name: VPCNetnsPrefix + v.Name, NodeNetNS: netnsPath(), VPCID: v.VPCID, SubnetID: v.SubnetID,
		VPCCIDR: v.VPCCIDR, SecondaryCIDRs: v.SecondaryCIDRs, Subnet: v.Subnet, HostAddress: v.HostAddress, ENIs: v.ENIs,
		// Unique per VPC on the node, and short enough for link names.
		ENINamePrefix: "eni-" + short + "-", InventoryPath: c.ENIInventoryPath(),
	}
}

// CreateVPC creates the VPC and attaches its ENIs to the node; it needs the cluster up.
func (c Config) CreateVPC(v VPC) ([]inventory.ENI, error) {
	if _, err := os.Stat(netnsPath()); err != nil {
		return nil, fmt.Errorf("create VPC %s: the meta cluster is not up: %w", v.Name, err)
	}
	if err := os.MkdirAll(filepath.Dir(c.ENIInventoryPath()), 0o755); err != nil {
		return nil, err
	}
	return local.Create(c.localVPC(v))
}

// DeleteVPC removes the VPC, its ENIs and their inventory entries; it succeeds on a VPC that is
// gone.
func (c Config) DeleteVPC(v VPC) error { return local.Delete(c.localVPC(v)) }

// vpcNamespaces lists the VPC namespaces on the machine, for down and leftovers.
func vpcNamespaces() []string {
	entries, _ := os.ReadDir("/run/netns")
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), VPCNetnsPrefix) {
			names = append(names, e.Name())
		}
	}
	return names
}

// deleteVPCNamespaces deletes every VPC namespace: down removes the node their ENIs are attached
// to, so no VPC outlives the cluster.
func deleteVPCNamespaces() error {
	var errs []string
	for _, name := range vpcNamespaces() {
		if err := run("ip", "netns", "delete", name); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("delete VPC namespaces: %s", strings.Join(errs, "; "))
	}
	return nil
}
