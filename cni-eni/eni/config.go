package eni

import (
	"encoding/json"
	"fmt"
	"path/filepath"

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
	}
	return conf, nil
}

func invalidConfig(format string, args ...any) *types.Error {
	return types.NewError(types.ErrInvalidNetworkConfig, "invalid eni configuration: "+fmt.Sprintf(format, args...), "")
}
