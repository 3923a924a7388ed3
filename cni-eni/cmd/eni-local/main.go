// Command eni-local creates or deletes a simulated tenant VPC whose ENIs the
// eni plugin can hand out, for development without a cloud provider.
//
//	eni-local create -name taowa-vpc1 -enis 4
//	eni-local delete -name taowa-vpc1
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"

	"github.com/taowa/taowa/cni-eni/inventory"
	"github.com/taowa/taowa/cni-eni/provider/local"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "eni-local:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 || args[0] != "create" && args[0] != "delete" {
		return fmt.Errorf("usage: eni-local create|delete [flags]")
	}
	var cfg local.Config
	flags := flag.NewFlagSet("eni-local "+args[0], flag.ContinueOnError)
	flags.StringVar(&cfg.Name, "name", "taowa-vpc", "name of the VPC network namespace")
	flags.StringVar(&cfg.NodeNetNS, "node-netns", "", "path of the node network namespace (default: the current one)")
	flags.StringVar(&cfg.VPCID, "vpc-id", "vpc-local", "VPC id recorded in the inventory")
	flags.StringVar(&cfg.SubnetID, "subnet-id", "subnet-local", "subnet id recorded in the inventory")
	flags.TextVar(&cfg.VPCCIDR, "vpc-cidr", netip.MustParsePrefix("10.240.0.0/16"), "VPC CIDR")
	flags.TextVar(&cfg.Subnet, "subnet", netip.MustParsePrefix("10.240.1.0/24"), "subnet of the ENIs; its first address is the gateway")
	flags.TextVar(&cfg.HostAddress, "host-address", netip.MustParseAddr("10.240.2.10"), "tenant host address inside the VPC, outside the subnet (empty: none)")
	flags.IntVar(&cfg.ENIs, "enis", 4, "number of ENIs")
	flags.StringVar(&cfg.ENINamePrefix, "eni-prefix", "eni", "node-side ENI link name prefix")
	flags.IntVar(&cfg.MTU, "mtu", 1500, "ENI MTU")
	flags.StringVar(&cfg.InventoryPath, "inventory", inventory.DefaultPath, "inventory file")
	if err := flags.Parse(args[1:]); err != nil {
		return err
	}
	if args[0] == "delete" {
		return local.Delete(cfg)
	}
	enis, err := local.Create(cfg)
	if err != nil {
		return err
	}
	out := json.NewEncoder(os.Stdout)
	out.SetIndent("", "  ")
	return out.Encode(enis)
}
