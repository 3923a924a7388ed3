package skew

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/taowa/taowa/versions"
)

// MaxKubeletLag is how many minor versions a kubelet may be older than kube-apiserver under the
// version-skew policy (https://kubernetes.io/releases/version-skew-policy/). The policy allows
// only two for kubelets older than 1.25; every supported target is 1.28 or newer (the table starts
// at 1.31), so a kubelet within three minors of it is 1.25 or newer and that rule never applies.
const MaxKubeletLag = 3

// Kubelet is the kubelet version one Node of the tenant reports.
type Kubelet struct {
	Node string
	// Version is node.status.nodeInfo.kubeletVersion as the Node reports it, e.g. v1.36.3.
	Version string
}

// CheckNodes refuses a step of the control plane to target that would put a kubelet outside the
// version-skew policy: a kubelet must not be newer than kube-apiserver, and may be at most
// MaxKubeletLag minor versions older. The policy counts minors only, so only a step that changes
// the control plane's minor is judged: an upgrade to a newer minor than a running version refuses
// kubelets more than MaxKubeletLag minors behind target, a rollback to an older minor refuses
// kubelets of a newer minor than target. A step within a minor (a patch, or a resync) changes no
// kubelet's standing and is not refused for one that is already out of the policy: it may be the
// repair. When it judges, a kubelet whose version cannot be read is refused too. The refusal names
// every offending node, in the order of kubelets.
func CheckNodes(target versions.Version, running []Running, kubelets []Kubelet) error {
	to := target.MajorMinor()
	var upgrade, rollback bool
	for _, r := range running {
		switch r.Version.MajorMinor().Compare(to) {
		case -1:
			upgrade = true
		case 1:
			rollback = true
		}
	}
	if !upgrade && !rollback {
		return nil
	}
	var behind, ahead, unreadable []string
	for _, k := range kubelets {
		v, err := parseGitVersion(k.Version)
		switch {
		case err != nil:
			unreadable = append(unreadable, fmt.Sprintf("node %s reports kubelet version %q", k.Node, k.Version))
		case upgrade && tooFarBehind(v.MajorMinor(), to):
			behind = append(behind, fmt.Sprintf("node %s (%s)", k.Node, k.Version))
		case rollback && v.MajorMinor().Compare(to) > 0:
			ahead = append(ahead, fmt.Sprintf("node %s (%s)", k.Node, k.Version))
		}
	}
	var reasons []string
	if len(behind) > 0 {
		reasons = append(reasons, fmt.Sprintf("upgrading the control plane to %s would leave kubelets more than %d minor versions behind it: %s; "+
			"upgrade those kubelets to %s or newer first", target, MaxKubeletLag, strings.Join(behind, ", "),
			versions.Minor{Major: to.Major, Minor: to.Minor - MaxKubeletLag}))
	}
	if len(ahead) > 0 {
		reasons = append(reasons, fmt.Sprintf("rolling the control plane back to %s would leave kubelets newer than it (a kubelet must not be newer than the apiserver): %s; "+
			"bring those nodes' kubelets back to %s or older, or remove the nodes, first", target, strings.Join(ahead, ", "), to))
	}
	if len(unreadable) > 0 {
		reasons = append(reasons, fmt.Sprintf("cannot tell whether every kubelet keeps the version-skew policy with %s: %s, not a version vX.Y.Z; "+
			"fix or remove those nodes first", target, strings.Join(unreadable, ", ")))
	}
	if len(reasons) == 0 {
		return nil
	}
	return &RefusedError{Reason: errors.New(strings.Join(reasons, "; also, "))}
}

// tooFarBehind reports whether a kubelet of minor kubelet is more than MaxKubeletLag minors older
// than an apiserver of minor apiserver.
func tooFarBehind(kubelet, apiserver versions.Minor) bool {
	if kubelet.Major != apiserver.Major {
		return kubelet.Major < apiserver.Major
	}
	return apiserver.Minor-kubelet.Minor > MaxKubeletLag
}

// nodesPageSize is how many Nodes one list request of Kubelets asks for.
const nodesPageSize = 500

// Kubelets lists the Nodes of a tenant, by the client of its own apiserver, with the kubelet
// version each reports, sorted by Node name.
func Kubelets(ctx context.Context, tenant kubernetes.Interface) ([]Kubelet, error) {
	var out []Kubelet
	opts := metav1.ListOptions{Limit: nodesPageSize}
	for {
		list, err := tenant.CoreV1().Nodes().List(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("list the tenant's Nodes: %w", err)
		}
		for _, n := range list.Items {
			out = append(out, Kubelet{Node: n.Name, Version: n.Status.NodeInfo.KubeletVersion})
		}
		if list.Continue == "" {
			break
		}
		opts.Continue = list.Continue
	}
	slices.SortFunc(out, func(a, b Kubelet) int { return strings.Compare(a.Node, b.Node) })
	return out, nil
}

// ObserveKubelets reads the kubelet versions of the tenant's Nodes through its admin kubeconfig,
// the way Observe reads its apiserver's /version. An error means the tenant could not be asked:
// the caller decides whether to go on without the answer.
func ObserveKubelets(ctx context.Context, meta kubernetes.Interface, namespace, fullName string) ([]Kubelet, error) {
	client, err := tenantClient(ctx, meta, namespace, fullName)
	if err != nil {
		return nil, err
	}
	return Kubelets(ctx, client)
}
