package local

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"

	"github.com/taowa/taowa/cni-eni/internal/namedns"
	"github.com/taowa/taowa/cni-eni/inventory"
)

func TestCreateAndDelete(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	prefix := "enitest-" + hex.EncodeToString(suffix)
	node, err := namedns.Create(prefix + "-node")
	require.NoError(t, err)
	t.Cleanup(func() {
		node.Close()
		require.NoError(t, namedns.Delete(prefix+"-node"))
	})
	inventoryPath := filepath.Join(t.TempDir(), "inventory.json")
	config := func(name, subnetID, subnet, enis string) Config {
		return Config{
			Name: prefix + "-" + name, NodeNetNS: node.Path(), VPCID: "vpc-1", SubnetID: subnetID,
			VPCCIDR: netip.MustParsePrefix("10.240.0.0/16"), Subnet: netip.MustParsePrefix(subnet),
			ENIs: 2, ENINamePrefix: enis, InventoryPath: inventoryPath,
		}
	}
	a, b := config("a", "subnet-a", "10.240.1.0/24", "enia"), config("b", "subnet-b", "10.240.2.0/24", "enib")
	a.SecondaryCIDRs = []netip.Prefix{netip.MustParsePrefix("10.200.0.0/16")}
	t.Cleanup(func() { require.NoError(t, Delete(a)); require.NoError(t, Delete(b)) })

	enisA, err := Create(a)
	require.NoError(t, err)
	_, err = Create(b)
	require.NoError(t, err)
	require.Equal(t, "10.240.1.10/24", enisA[0].Address.String())
	require.Equal(t, "10.240.1.11/24", enisA[1].Address.String())
	require.Equal(t, "10.240.1.1", enisA[0].Gateway.String())
	require.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.240.0.0/16"), netip.MustParsePrefix("10.200.0.0/16")},
		enisA[0].VPCCIDRs, "an ENI routes the VPC's secondary CIDRs too")
	recorded, err := Lookup(inventoryPath, a.Name)
	require.NoError(t, err)
	require.Equal(t, enisA, recorded)
	_, err = Lookup(inventoryPath, prefix+"-none")
	require.ErrorContains(t, err, prefix+"-none")

	inv, err := inventory.NewStore(inventoryPath).LoadInventory()
	require.NoError(t, err)
	require.Len(t, inv.ENIs, 4)
	require.NoError(t, node.Do(func(ns.NetNS) error {
		for _, eni := range inv.ENIs {
			link, err := netlink.LinkByName(eni.HostIfName)
			require.NoError(t, err)
			require.Equal(t, eni.MAC.String(), link.Attrs().HardwareAddr.String())
		}
		return nil
	}))

	_, err = Create(a)
	require.Error(t, err, "the VPC namespace name is taken")
	inv, err = inventory.NewStore(inventoryPath).LoadInventory()
	require.NoError(t, err)
	require.Len(t, inv.ENIs, 4, "a failed Create leaves the existing VPC alone")

	provider := Provider{Dir: RecordDir(inventoryPath)}
	discovered, err := provider.Discover(context.Background())
	require.NoError(t, err)
	require.ElementsMatch(t, inv.ENIs, discovered, "the records list what the inventory got")

	require.NoError(t, Delete(a))
	discovered, err = provider.Discover(context.Background())
	require.NoError(t, err)
	require.Len(t, discovered, 2, "a deleted VPC's ENIs are no longer discovered")
	require.Equal(t, "subnet-b", discovered[0].SubnetID)
	inv, err = inventory.NewStore(inventoryPath).LoadInventory()
	require.NoError(t, err)
	require.Len(t, inv.ENIs, 2)
	require.Equal(t, "subnet-b", inv.ENIs[0].SubnetID)
	_, err = os.Stat(namedns.Path(a.Name))
	require.ErrorIs(t, err, os.ErrNotExist)
	require.NoError(t, Delete(a), "Delete is idempotent")

	// A VPC namespace deleted behind the provider's back takes its ENIs with it.
	require.NoError(t, namedns.Delete(b.Name))
	discovered, err = provider.Discover(context.Background())
	require.NoError(t, err)
	require.Empty(t, discovered)
}

func TestConfigValidation(t *testing.T) {
	_, err := Create(Config{Name: "enitest-x", VPCID: "v", SubnetID: "s",
		VPCCIDR: netip.MustParsePrefix("10.240.0.0/16"), Subnet: netip.MustParsePrefix("10.240.1.0/28"),
		ENIs: 8, InventoryPath: "/nonexistent/inventory.json"})
	require.ErrorContains(t, err, "too small")
	_, err = Create(Config{Name: "enitest-x", VPCID: "v", SubnetID: "s",
		VPCCIDR: netip.MustParsePrefix("10.240.0.0/16"), Subnet: netip.MustParsePrefix("10.240.1.0/24"),
		SecondaryCIDRs: []netip.Prefix{netip.MustParsePrefix("10.240.128.0/17")},
		ENIs:           1, InventoryPath: "/nonexistent/inventory.json"})
	require.ErrorContains(t, err, "outside vpc 10.240.0.0/16")
}
