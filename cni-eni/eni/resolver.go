package eni

import (
	"context"
	"fmt"
	"strings"

	"github.com/containernetworking/cni/pkg/types"
)

// Selector names the VPC, and optionally the subnet, that a sandbox's ENI
// must come from.
type Selector struct {
	VPCID    string `json:"vpcID,omitempty"`
	SubnetID string `json:"subnetID,omitempty"`
}

func (s Selector) matches(vpcID, subnetID string) bool {
	return s.VPCID == vpcID && (s.SubnetID == "" || s.SubnetID == subnetID)
}

func (s Selector) String() string {
	if s.SubnetID == "" {
		return "vpc " + s.VPCID
	}
	return fmt.Sprintf("vpc %s subnet %s", s.VPCID, s.SubnetID)
}

// ResolveRequest carries what a Resolver may base its decision on.
type ResolveRequest struct {
	ContainerID string
	IfName      string
	// CNIArgs is the raw CNI_ARGS, e.g. "K8S_POD_NAMESPACE=ns;K8S_POD_NAME=pod".
	CNIArgs string
	Conf    *NetConf
}

// Resolver decides which VPC and subnet a sandbox joins. ArgsResolver reads
// the CNI invocation; a resolver reading the Pod's annotations from the
// apiserver can replace it without touching the plugin.
type Resolver interface {
	Resolve(ctx context.Context, req ResolveRequest) (Selector, error)
}

// ArgsResolver takes the selector from, in decreasing precedence, the
// runtimeConfig, the "args.cni" section, CNI_ARGS ("vpcID=...;subnetID=...")
// and the network configuration's own vpcID and subnetID.
type ArgsResolver struct{}

// Resolve implements Resolver.
func (ArgsResolver) Resolve(_ context.Context, req ResolveRequest) (Selector, error) {
	fromEnv, err := parseCNIArgs(req.CNIArgs)
	if err != nil {
		return Selector{}, err
	}
	sources := []Selector{
		req.Conf.RuntimeConfig.Selector,
		req.Conf.Args.CNI,
		fromEnv,
		{VPCID: req.Conf.VPCID, SubnetID: req.Conf.SubnetID},
	}
	// A source that names a VPC decides the subnet too, so that a Pod's
	// VPC is never combined with a default subnet of another VPC.
	for _, s := range sources {
		if s.VPCID != "" {
			return s, nil
		}
		if s.SubnetID != "" {
			return Selector{}, invalidConfig("subnetID %q is given without a vpcID", s.SubnetID)
		}
	}
	return Selector{}, errNoVPC
}

// errNoVPC is the error of a sandbox that asks for no VPC, which passes through with vpcOptional.
var errNoVPC = invalidConfig("vpcID is missing: set it in runtimeConfig, args.cni, CNI_ARGS, the network configuration or the Pod's %s annotation", AnnotationVPCID)

// parseCNIArgs extracts vpcID and subnetID from CNI_ARGS, ignoring other keys
// such as the K8S_POD_* ones the runtime adds.
func parseCNIArgs(cniArgs string) (Selector, error) {
	var s Selector
	for pair := range strings.SplitSeq(cniArgs, ";") {
		if pair == "" {
			continue
		}
		key, value, ok := strings.Cut(pair, "=")
		if !ok {
			return Selector{}, types.NewError(types.ErrInvalidEnvironmentVariables, fmt.Sprintf("CNI_ARGS: %q is not KEY=VALUE", pair), "")
		}
		switch key {
		case "vpcID":
			s.VPCID = value
		case "subnetID":
			s.SubnetID = value
		}
	}
	return s, nil
}
