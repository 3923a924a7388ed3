package eni

import (
	"context"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/stretchr/testify/require"

	"github.com/taowa/taowa/cni-eni/inventory"
)

func TestLoadNetConfDefaults(t *testing.T) {
	conf, err := loadNetConf([]byte(`{"cniVersion":"1.1.0","name":"n","type":"eni"}`))
	require.NoError(t, err)
	require.Equal(t, inventory.DefaultPath, conf.InventoryPath)
	require.Equal(t, defaultRouteTable, conf.RouteTable)
	require.Equal(t, defaultRulePriority, conf.RulePriority)
}

func TestLoadNetConfErrors(t *testing.T) {
	for _, tc := range []struct {
		conf  string
		code  uint
		field string
	}{
		{`{`, types.ErrDecodingFailure, "decode network configuration"},
		{`{"inventoryPath":"rel/inv.json"}`, types.ErrInvalidNetworkConfig, "inventoryPath"},
		{`{"routeTable":0}`, types.ErrInvalidNetworkConfig, "routeTable"},
		{`{"routeTable":253}`, types.ErrInvalidNetworkConfig, "routeTable"},
		{`{"rulePriority":32766}`, types.ErrInvalidNetworkConfig, "rulePriority"},
		{`{"cniVersion":"1.1.0","prevResult":{"ips":"x"}}`, types.ErrDecodingFailure, "prevResult"},
	} {
		_, err := loadNetConf([]byte(tc.conf))
		var cniErr *types.Error
		require.ErrorAs(t, err, &cniErr, tc.conf)
		require.Equal(t, tc.code, cniErr.Code, tc.conf)
		require.Contains(t, cniErr.Msg, tc.field, tc.conf)
	}
}

func TestArgsResolverPrecedence(t *testing.T) {
	conf, err := loadNetConf([]byte(`{
		"vpcID": "vpc-default", "subnetID": "subnet-default",
		"args": {"cni": {"vpcID": "vpc-args"}},
		"runtimeConfig": {"vpcID": "vpc-runtime", "subnetID": "subnet-runtime"}
	}`))
	require.NoError(t, err)
	resolve := func(cniArgs string) (Selector, error) {
		return ArgsResolver{}.Resolve(context.Background(), ResolveRequest{CNIArgs: cniArgs, Conf: conf})
	}

	got, err := resolve("vpcID=vpc-env")
	require.NoError(t, err)
	require.Equal(t, Selector{VPCID: "vpc-runtime", SubnetID: "subnet-runtime"}, got)

	conf.RuntimeConfig.Selector = Selector{}
	got, err = resolve("vpcID=vpc-env")
	require.NoError(t, err)
	require.Equal(t, Selector{VPCID: "vpc-args"}, got, "a source naming a VPC decides the subnet too")

	conf.Args.CNI = Selector{}
	got, err = resolve("K8S_POD_NAME=p;vpcID=vpc-env;subnetID=subnet-env")
	require.NoError(t, err)
	require.Equal(t, Selector{VPCID: "vpc-env", SubnetID: "subnet-env"}, got)

	got, err = resolve("")
	require.NoError(t, err)
	require.Equal(t, Selector{VPCID: "vpc-default", SubnetID: "subnet-default"}, got)

	_, err = resolve("garbage")
	require.ErrorContains(t, err, "CNI_ARGS")

	conf.VPCID = ""
	_, err = resolve("")
	require.ErrorContains(t, err, "subnetID")
	conf.SubnetID = ""
	_, err = resolve("")
	require.ErrorContains(t, err, "vpcID is missing")
}

func TestSelectorMatches(t *testing.T) {
	require.True(t, Selector{VPCID: "v"}.matches("v", "any"))
	require.True(t, Selector{VPCID: "v", SubnetID: "s"}.matches("v", "s"))
	require.False(t, Selector{VPCID: "v", SubnetID: "s"}.matches("v", "t"))
	require.False(t, Selector{VPCID: "v"}.matches("w", "s"))
}
