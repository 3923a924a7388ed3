package eni

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/taowa/taowa/cni-eni/inventory"
)

const (
	defaultRouteTable   = 100
	defaultRulePriority = 1000
	// The kernel's main table rule sits at 32766; ours must come first.
	mainRulePriority = 32766
)

// NetConf is the network configuration of the eni plugin.
type NetConf struct {
	types.PluginConf

	// InventoryPath locates the node's ENI inventory; the allocations and
	// lock files live next to it.
	InventoryPath string `json:"inventoryPath,omitempty"`
	// RouteTable holds the Pod-side default route via the VPC gateway that
	// traffic sourced from the ENI address uses.
	RouteTable int `json:"routeTable,omitempty"`
	// RulePriority is the priority of the "from <ENI address>" rule.
	RulePriority int `json:"rulePriority,omitempty"`

	// Kubeconfig, when set, lets the plugin read the Pod's ENI annotations from the meta
	// cluster's apiserver (PodResolver).
	Kubeconfig string `json:"kubeconfig,omitempty"`

	// VPCID and SubnetID are defaults for Pods that do not ask for one.
	VPCID    string `json:"vpcID,omitempty"`
	SubnetID string `json:"subnetID,omitempty"`

	// IfName names the ENI in the sandbox. Chained after the primary plugin, the runtime passes
	// the primary interface's name (eth0) to every plugin of the list, so the ENI needs its own;
	// empty means CNI_IFNAME (a Multus delegate gets its own name from the runtime).
	IfName string `json:"ifName,omitempty"`
	// VPCOptional lets sandboxes that ask for no VPC through unchanged, for a list chained for
	// every Pod of a node where only some want an ENI. STATUS then never fails for lack of a free
	// ENI, which would stop every Pod of the node: the extended resource the agent advertises
	// keeps ENI Pods off full nodes instead.
	VPCOptional bool `json:"vpcOptional,omitempty"`

	RuntimeConfig struct {
		Selector
	} `json:"runtimeConfig"`
	Args struct {
		CNI Selector `json:"cni"`
	} `json:"args"`
}

// loadNetConf parses and validates the configuration, filling in defaults.
// Every error is a *types.Error naming the offending field.
func loadNetConf(data []byte) (*NetConf, error) {
	conf := &NetConf{
		InventoryPath: inventory.DefaultPath,
		RouteTable:    defaultRouteTable,
		RulePriority:  defaultRulePriority,
	}
	if err := json.Unmarshal(data, conf); err != nil {
		return nil, types.NewError(types.ErrDecodingFailure, fmt.Sprintf("decode network configuration: %v", err), "")
	}
	if err := version.ParsePrevResult(&conf.PluginConf); err != nil {
		return nil, types.NewError(types.ErrDecodingFailure, fmt.Sprintf("decode prevResult: %v", err), "")
	}
	switch {
	case !filepath.IsAbs(conf.InventoryPath):
		return nil, invalidConfig("inventoryPath %q must be an absolute path", conf.InventoryPath)
	case conf.RouteTable <= 0 || conf.RouteTable >= 253 && conf.RouteTable <= 255 || conf.RouteTable > 1<<31-1:
		return nil, invalidConfig("routeTable %d must be a positive table id other than 253 (default), 254 (main) and 255 (local)", conf.RouteTable)
	case conf.RulePriority <= 0 || conf.RulePriority >= mainRulePriority:
		return nil, invalidConfig("rulePriority %d must be between 1 and %d so that it precedes the main table", conf.RulePriority, mainRulePriority-1)
	case conf.IfName != "" && !validIfName(conf.IfName):
		return nil, invalidConfig("ifName %q is not a valid interface name (1 to 15 characters, no '/', ':' or space)", conf.IfName)
	}
	return conf, nil
}

// sandboxIfName is the ENI's name in the sandbox: the configured one, or the runtime's.
func (conf *NetConf) sandboxIfName(runtimeIfName string) string {
	if conf.IfName != "" {
		return conf.IfName
	}
	return runtimeIfName
}

func validIfName(name string) bool {
	return len(name) <= 15 && name != "." && name != ".." && !strings.ContainsAny(name, "/: \t\n")
}

func invalidConfig(format string, args ...any) *types.Error {
	return types.NewError(types.ErrInvalidNetworkConfig, "invalid eni configuration: "+fmt.Sprintf(format, args...), "")
}
