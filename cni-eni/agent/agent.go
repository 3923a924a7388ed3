// Package agent is the node side of cni-eni: it asks a Provider which ENIs are attached to the
// node, keeps the inventory the eni plugin reads, and advertises the node's ENIs per subnet as an
// extended resource, so that the scheduler puts a Pod that requests one only on a node that has
// one free.
//
// The resource counts every ENI of the subnet attached to the node, as a device plugin counts
// devices: the scheduler subtracts what the Pods bound to the node request, so "free" is what is
// left. One ENI per Pod that asks for a VPC is the contract with the plugin, which hands out one.
package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"

	"github.com/taowa/taowa/cni-eni/inventory"
)

// ResourcePrefix prefixes the extended resource of each subnet: eni.taowa.io/<subnet id>.
const ResourcePrefix = "eni.taowa.io/"

// ResourceName is the extended resource a Pod requests (1) to get an ENI of subnetID.
func ResourceName(subnetID string) (corev1.ResourceName, error) {
	name := ResourcePrefix + subnetID
	if errs := validation.IsQualifiedName(name); len(errs) > 0 {
		return "", fmt.Errorf("subnet id %q cannot name an extended resource (%s): %s", subnetID, name, strings.Join(errs, "; "))
	}
	return corev1.ResourceName(name), nil
}

// Provider discovers the ENIs attached to this node: a cloud API, or the local VPCs of a
// development machine (provider/local).
type Provider interface {
	Discover(ctx context.Context) ([]inventory.ENI, error)
}

// Agent keeps one node's inventory and extended resources in line with its Provider.
type Agent struct {
	Provider Provider
	Store    *inventory.Store
	Client   kubernetes.Interface
	NodeName string
	Log      io.Writer
}

// Sync makes the inventory list exactly the discovered ENIs and the node advertise their count
// per subnet, dropping the resources of subnets that have no ENI on the node any more.
func (a *Agent) Sync(ctx context.Context) error {
	enis, err := a.Provider.Discover(ctx)
	if err != nil {
		return fmt.Errorf("discover ENIs: %w", err)
	}
	slices.SortFunc(enis, func(x, y inventory.ENI) int { return strings.Compare(x.ID, y.ID) })
	counts := map[corev1.ResourceName]int{}
	for _, e := range enis {
		name, err := ResourceName(e.SubnetID)
		if err != nil {
			return fmt.Errorf("ENI %s: %w", e.ID, err)
		}
		counts[name]++
	}
	if err := a.writeInventory(ctx, enis); err != nil {
		return err
	}
	return a.advertise(ctx, counts)
}

func (a *Agent) writeInventory(ctx context.Context, enis []inventory.ENI) error {
	inv := &inventory.Inventory{Version: inventory.FormatVersion, ENIs: enis}
	if err := inv.Validate(); err != nil {
		return fmt.Errorf("discovered ENIs: %w", err)
	}
	unlock, err := a.Store.Lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	current, err := a.Store.LoadInventory()
	if err == nil && slices.EqualFunc(current.ENIs, enis, func(x, y inventory.ENI) bool { return reflect.DeepEqual(x, y) }) {
		return nil
	}
	if err := a.Store.SaveInventory(inv); err != nil {
		return err
	}
	fmt.Fprintf(a.Log, "inventory %s: %d ENI(s)\n", a.Store.InventoryPath, len(enis))
	return nil
}

// advertise patches the node's status capacity (the kubelet copies extended resources into
// allocatable). A merge patch with null removes a resource.
func (a *Agent) advertise(ctx context.Context, counts map[corev1.ResourceName]int) error {
	node, err := a.Client.CoreV1().Nodes().Get(ctx, a.NodeName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("read node %s: %w", a.NodeName, err)
	}
	capacity := map[corev1.ResourceName]any{}
	for name := range node.Status.Capacity {
		if _, keep := counts[name]; strings.HasPrefix(string(name), ResourcePrefix) && !keep {
			capacity[name] = nil
		}
	}
	for name, n := range counts {
		if q, ok := node.Status.Capacity[name]; !ok || q.Value() != int64(n) {
			capacity[name] = strconv.Itoa(n)
		}
	}
	if len(capacity) == 0 {
		return nil
	}
	patch, err := json.Marshal(map[string]any{"status": map[string]any{"capacity": capacity}})
	if err != nil {
		return err
	}
	if _, err := a.Client.CoreV1().Nodes().Patch(ctx, a.NodeName, types.MergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil {
		return fmt.Errorf("advertise ENIs on node %s: %w", a.NodeName, err)
	}
	for _, name := range slices.Sorted(maps.Keys(capacity)) {
		fmt.Fprintf(a.Log, "node %s: %s = %v\n", a.NodeName, name, capacity[name])
	}
	return nil
}

// Run syncs every interval until ctx ends, reporting failures and retrying at the next tick.
func (a *Agent) Run(ctx context.Context, interval time.Duration) error {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		if err := a.Sync(ctx); err != nil {
			fmt.Fprintf(a.Log, "sync failed, retrying in %s: %v\n", interval, err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}
