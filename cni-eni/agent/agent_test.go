package agent

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/taowa/taowa/cni-eni/inventory"
)

type fixedProvider struct {
	enis []inventory.ENI
	err  error
}

func (p *fixedProvider) Discover(context.Context) ([]inventory.ENI, error) { return p.enis, p.err }

func eni(id, subnet string, last byte) inventory.ENI {
	return inventory.ENI{
		ID: id, MAC: inventory.HardwareAddr(net.HardwareAddr{2, 0, 10, 240, 1, last}), HostIfName: id,
		VPCID: "vpc-a", SubnetID: subnet, Address: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 240, 1, last}), 24),
		Gateway: netip.MustParseAddr("10.240.1.1"),
	}
}

func newAgent(t *testing.T, provider Provider, node *corev1.Node) (*Agent, *fake.Clientset) {
	client := fake.NewClientset(node)
	return &Agent{
		Provider: provider, Store: inventory.NewStore(filepath.Join(t.TempDir(), "inventory.json")),
		Client: client, NodeName: node.Name, Log: &bytes.Buffer{},
	}, client
}

func capacity(t *testing.T, client *fake.Clientset) map[string]int64 {
	t.Helper()
	node, err := client.CoreV1().Nodes().Get(context.Background(), "node-1", metav1.GetOptions{})
	require.NoError(t, err)
	out := map[string]int64{}
	for name, q := range node.Status.Capacity {
		out[string(name)] = q.Value()
	}
	return out
}

func TestSyncWritesInventoryAndAdvertisesPerSubnet(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1"}, Status: corev1.NodeStatus{Capacity: corev1.ResourceList{
		corev1.ResourceCPU:         resource.MustParse("2"),
		"eni.taowa.io/subnet-gone": resource.MustParse("3"),
	}}}
	provider := &fixedProvider{enis: []inventory.ENI{eni("eni-c", "subnet-b", 12), eni("eni-a", "subnet-a", 10), eni("eni-b", "subnet-a", 11)}}
	a, client := newAgent(t, provider, node)
	ctx := context.Background()

	require.NoError(t, a.Sync(ctx))
	inv, err := a.Store.LoadInventory()
	require.NoError(t, err)
	var ids []string
	for _, e := range inv.ENIs {
		ids = append(ids, e.ID)
	}
	assert.Equal(t, []string{"eni-a", "eni-b", "eni-c"}, ids, "sorted by id")
	assert.Equal(t, map[string]int64{"cpu": 2, "eni.taowa.io/subnet-a": 2, "eni.taowa.io/subnet-b": 1}, capacity(t, client),
		"each subnet counted, a stale subnet removed, other resources kept")

	// An unchanged world writes nothing.
	actions := len(client.Actions())
	require.NoError(t, a.Sync(ctx))
	assert.Len(t, client.Actions(), actions+1, "one read of the node, no patch")

	provider.enis = provider.enis[1:2]
	require.NoError(t, a.Sync(ctx))
	assert.Equal(t, map[string]int64{"cpu": 2, "eni.taowa.io/subnet-a": 1}, capacity(t, client))
	inv, err = a.Store.LoadInventory()
	require.NoError(t, err)
	assert.Len(t, inv.ENIs, 1)
}

func TestSyncRefusesBadDiscoveriesAndKeepsTheInventory(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1"}}
	provider := &fixedProvider{enis: []inventory.ENI{eni("eni-a", "subnet-a", 10)}}
	a, client := newAgent(t, provider, node)
	require.NoError(t, a.Sync(context.Background()))
	before := capacity(t, client)

	provider.enis = []inventory.ENI{eni("eni-a", "subnet-a", 10), eni("eni-a", "subnet-a", 11)}
	assert.ErrorContains(t, a.Sync(context.Background()), `duplicate id "eni-a"`)
	provider.enis = []inventory.ENI{eni("eni-x", "Subnet With Spaces", 10)}
	assert.ErrorContains(t, a.Sync(context.Background()), `subnet id "Subnet With Spaces" cannot name an extended resource`)
	provider.err = errors.New("cloud API down")
	assert.ErrorContains(t, a.Sync(context.Background()), "discover ENIs: cloud API down")

	inv, err := a.Store.LoadInventory()
	require.NoError(t, err)
	assert.Equal(t, "eni-a", inv.ENIs[0].ID)
	assert.Len(t, inv.ENIs, 1)
	assert.Equal(t, before, capacity(t, client))
}

func TestResourceName(t *testing.T) {
	name, err := ResourceName("subnet-0a1b2c")
	require.NoError(t, err)
	assert.Equal(t, corev1.ResourceName("eni.taowa.io/subnet-0a1b2c"), name)
	_, err = ResourceName("")
	assert.Error(t, err)
}
