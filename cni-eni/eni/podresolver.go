package eni

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/containernetworking/cni/pkg/types"
)

// Annotations a Pod asks for its ENI with. The tenant-master chart sets them on the apiserver Pods
// when network.eni.enabled is true.
const (
	AnnotationVPCID    = "eni.taowa.io/vpc-id"
	AnnotationSubnetID = "eni.taowa.io/subnet-id"
)

// PodResolver takes the selector from the sandbox's Pod: the runtime names it in CNI_ARGS
// (K8S_POD_NAMESPACE, K8S_POD_NAME), and the plugin reads its annotations from the meta
// cluster's apiserver with the network configuration's kubeconfig. A Pod without the annotations,
// a sandbox that is not a Pod, or a configuration without a kubeconfig goes to Fallback.
type PodResolver struct {
	// Reader, when set, replaces the reader built from the configuration's kubeconfig (tests).
	Reader   PodReader
	Fallback Resolver
}

// Resolve implements Resolver.
func (r PodResolver) Resolve(ctx context.Context, req ResolveRequest) (Selector, error) {
	namespace, name := podOf(req.CNIArgs)
	reader := r.Reader
	if reader == nil && req.Conf.Kubeconfig != "" && namespace != "" && name != "" {
		apiserver, err := newAPIServerPodReader(req.Conf.Kubeconfig)
		if err != nil {
			return Selector{}, invalidConfig("kubeconfig %q: %v", req.Conf.Kubeconfig, err)
		}
		reader = apiserver
	}
	if reader == nil || namespace == "" || name == "" {
		return r.Fallback.Resolve(ctx, req)
	}
	annotations, err := reader.Annotations(ctx, namespace, name)
	if err != nil {
		code := uint(types.ErrTryAgainLater)
		if errors.Is(err, errPodNotFound) {
			code = types.ErrInvalidEnvironmentVariables
		}
		return Selector{}, types.NewError(code, fmt.Sprintf("read Pod %s/%s for its ENI annotations: %v", namespace, name, err), "")
	}
	s := Selector{VPCID: annotations[AnnotationVPCID], SubnetID: annotations[AnnotationSubnetID]}
	switch {
	case s.VPCID != "":
		return s, nil
	case s.SubnetID != "":
		return Selector{}, invalidConfig("Pod %s/%s has annotation %s without %s", namespace, name, AnnotationSubnetID, AnnotationVPCID)
	default:
		return r.Fallback.Resolve(ctx, req)
	}
}

// podOf reads the Pod's namespace and name from CNI_ARGS.
func podOf(cniArgs string) (namespace, name string) {
	for pair := range strings.SplitSeq(cniArgs, ";") {
		key, value, _ := strings.Cut(pair, "=")
		switch key {
		case "K8S_POD_NAMESPACE":
			namespace = value
		case "K8S_POD_NAME":
			name = value
		}
	}
	return namespace, name
}
