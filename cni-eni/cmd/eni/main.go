// Command eni is the CNI plugin that gives a sandbox one of the node's
// elastic network interfaces; see package eni.
package main

import (
	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/taowa/taowa/cni-eni/eni"
)

func main() {
	plugin := eni.New(eni.PodResolver{Fallback: eni.ArgsResolver{}})
	skel.PluginMainFuncs(plugin.Funcs(), version.All, "CNI eni plugin")
}
