package inventory

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func validENI(id, mac string) ENI {
	return ENI{
		ID:         id,
		MAC:        mustMAC(mac),
		HostIfName: "eni0",
		VPCID:      "vpc-1",
		SubnetID:   "subnet-1",
		Address:    netip.MustParsePrefix("10.240.1.10/24"),
		Gateway:    netip.MustParseAddr("10.240.1.1"),
		MTU:        1500,
		VPCCIDRs:   []netip.Prefix{netip.MustParsePrefix("10.240.0.0/16")},
	}
}

func mustMAC(s string) HardwareAddr {
	var mac HardwareAddr
	if err := mac.UnmarshalText([]byte(s)); err != nil {
		panic(err)
	}
	return mac
}

func TestInventoryJSONFormat(t *testing.T) {
	inv := Inventory{Version: FormatVersion, ENIs: []ENI{validENI("eni-1", "02:00:0a:f0:01:0a")}}
	data, err := json.Marshal(inv)
	require.NoError(t, err)
	require.JSONEq(t, `{"version":1,"enis":[{"id":"eni-1","mac":"02:00:0a:f0:01:0a","hostIfName":"eni0",
		"vpcID":"vpc-1","subnetID":"subnet-1","address":"10.240.1.10/24","gateway":"10.240.1.1","mtu":1500,
		"vpcCIDRs":["10.240.0.0/16"]}]}`, string(data))
	var back Inventory
	require.NoError(t, json.Unmarshal(data, &back))
	require.Equal(t, inv, back)
}

func TestValidate(t *testing.T) {
	for name, tc := range map[string]struct {
		edit func(*Inventory)
		want string
	}{
		"valid":              {func(*Inventory) {}, ""},
		"version":            {func(inv *Inventory) { inv.Version = 2 }, "unsupported inventory version 2"},
		"duplicate id":       {func(inv *Inventory) { inv.ENIs[1].ID = "eni-1" }, `duplicate id "eni-1"`},
		"duplicate mac":      {func(inv *Inventory) { inv.ENIs[1].MAC = inv.ENIs[0].MAC }, "duplicate mac"},
		"long name":          {func(inv *Inventory) { inv.ENIs[0].HostIfName = "a-very-long-name-x" }, "hostIfName"},
		"gateway off subnet": {func(inv *Inventory) { inv.ENIs[0].Gateway = netip.MustParseAddr("10.240.2.1") }, "outside subnet"},
		"missing address":    {func(inv *Inventory) { inv.ENIs[0].Address = netip.Prefix{} }, "address is missing"},
		"mixed families":     {func(inv *Inventory) { inv.ENIs[0].VPCCIDRs = []netip.Prefix{netip.MustParsePrefix("fd00::/64")} }, "different families"},
	} {
		t.Run(name, func(t *testing.T) {
			inv := &Inventory{Version: FormatVersion, ENIs: []ENI{validENI("eni-1", "02:00:00:00:00:01"), validENI("eni-2", "02:00:00:00:00:02")}}
			tc.edit(inv)
			err := inv.Validate()
			if tc.want == "" {
				require.NoError(t, err)
			} else {
				require.ErrorContains(t, err, tc.want)
			}
		})
	}
}

func TestStoreRoundTrip(t *testing.T) {
	store := NewStore(filepath.Join(t.TempDir(), "eni", "inventory.json"))
	require.Equal(t, filepath.Join(filepath.Dir(store.InventoryPath), "allocations.json"), store.AllocationsPath)

	_, err := store.LoadInventory()
	require.ErrorIs(t, err, os.ErrNotExist)
	allocs, err := store.LoadAllocations()
	require.NoError(t, err, "a missing allocations file means nothing is allocated")
	require.Empty(t, allocs.ByENI)

	inv := &Inventory{Version: FormatVersion, ENIs: []ENI{validENI("eni-1", "02:00:00:00:00:01")}}
	require.NoError(t, store.SaveInventory(inv))
	loaded, err := store.LoadInventory()
	require.NoError(t, err)
	require.Equal(t, inv, loaded)

	allocs.ByENI["eni-1"] = Allocation{Network: "net", ContainerID: "c1", NetNS: "/var/run/netns/x", IfName: "eth1", AllocatedAt: time.Unix(1, 0).UTC()}
	require.NoError(t, store.SaveAllocations(allocs))
	reloaded, err := store.LoadAllocations()
	require.NoError(t, err)
	require.Equal(t, allocs, reloaded)
	id, ok := reloaded.ENIHeldBy("net", "c1", "eth1")
	require.True(t, ok)
	require.Equal(t, "eni-1", id)
	_, ok = reloaded.ENIHeldBy("other-net", "c1", "eth1")
	require.False(t, ok)

	entries, err := os.ReadDir(filepath.Dir(store.InventoryPath))
	require.NoError(t, err)
	for _, entry := range entries {
		require.NotContains(t, entry.Name(), ".tmp-", "temporary file left behind")
	}
}

func TestSaveInventoryRefusesInvalid(t *testing.T) {
	store := NewStore(filepath.Join(t.TempDir(), "inventory.json"))
	err := store.SaveInventory(&Inventory{Version: FormatVersion, ENIs: []ENI{{ID: "eni-1"}}})
	require.ErrorContains(t, err, "mac is empty")
	_, err = os.Stat(store.InventoryPath)
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestLoadRejectsCorruptFiles(t *testing.T) {
	store := NewStore(filepath.Join(t.TempDir(), "inventory.json"))
	require.NoError(t, os.WriteFile(store.InventoryPath, []byte(`{"version":1,"enis":[{"mac":"zz"}]}`), 0o644))
	_, err := store.LoadInventory()
	require.ErrorContains(t, err, "decode")
	require.NoError(t, os.WriteFile(store.AllocationsPath, []byte(`{"version":7}`), 0o644))
	_, err = store.LoadAllocations()
	require.ErrorContains(t, err, "unsupported allocations version 7")
}

func TestLockIsExclusive(t *testing.T) {
	store := NewStore(filepath.Join(t.TempDir(), "inventory.json"))
	unlock, err := store.Lock(context.Background())
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = store.Lock(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded, "a second holder must wait")

	acquired := make(chan func() error)
	go func() {
		unlock2, err := store.Lock(context.Background())
		if err == nil {
			acquired <- unlock2
		}
	}()
	require.NoError(t, unlock())
	select {
	case unlock2 := <-acquired:
		require.NoError(t, unlock2())
	case <-time.After(5 * time.Second):
		t.Fatal("waiter never got the released lock")
	}
}
