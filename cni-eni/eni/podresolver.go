package eni

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/containernetworking/cni/pkg/types"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
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
	// Client, when set, replaces the client built from the configuration's kubeconfig (tests).
	Client   kubernetes.Interface
	Fallback Resolver
}

// Resolve implements Resolver.
func (r PodResolver) Resolve(ctx context.Context, req ResolveRequest) (Selector, error) {
	namespace, name := podOf(req.CNIArgs)
	client := r.Client
	if client == nil && req.Conf.Kubeconfig != "" {
		cfg, err := clientcmd.BuildConfigFromFlags("", req.Conf.Kubeconfig)
		if err != nil {
			return Selector{}, invalidConfig("kubeconfig %q: %v", req.Conf.Kubeconfig, err)
		}
		cfg.Timeout = 10 * time.Second
		if client, err = kubernetes.NewForConfig(cfg); err != nil {
			return Selector{}, invalidConfig("kubeconfig %q: %v", req.Conf.Kubeconfig, err)
		}
	}
	if client == nil || namespace == "" || name == "" {
		return r.Fallback.Resolve(ctx, req)
	}
	pod, err := client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		code := uint(types.ErrTryAgainLater)
		if apierrors.IsNotFound(err) {
			code = types.ErrInvalidEnvironmentVariables
		}
		return Selector{}, types.NewError(code, fmt.Sprintf("read Pod %s/%s for its ENI annotations: %v", namespace, name, err), "")
	}
	s := Selector{VPCID: pod.Annotations[AnnotationVPCID], SubnetID: pod.Annotations[AnnotationSubnetID]}
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
