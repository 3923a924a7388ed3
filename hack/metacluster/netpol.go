package metacluster

import (
	"context"
	"fmt"
	"log"
	"os/exec"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// The local cluster's bridge CNI enforces no NetworkPolicy, so the cluster runs this small
// enforcer: it renders the Ingress rules of every NetworkPolicy into one nftables table in the
// cluster's namespace and replaces that table atomically on every change. kube-network-policies,
// SIG Network's enforcer, needs the nftables queue expression, which these kernels lack.
//
// Scope: Ingress for IPv4 Pods (podSelector, namespaceSelector, ipBlock, numbered and named ports,
// endPort). Egress rules are not enforced; the enforcer logs each policy that has them. Traffic
// from the node itself (kubelet probes) is not forwarded and stays allowed, as with most CNIs.

// nftTable is the nftables table the enforcer owns in the cluster's namespace.
const nftTable = "taowa-netpol"

// RunNetworkPolicy enforces NetworkPolicy Ingress rules until ctx ends, then removes its table.
func RunNetworkPolicy(ctx context.Context, kubeconfig string) error {
	client, err := clientFromKubeconfig(kubeconfig)
	if err != nil {
		return err
	}
	factory := informers.NewSharedInformerFactory(client, 10*time.Minute)
	pods := factory.Core().V1().Pods().Lister()
	namespaces := factory.Core().V1().Namespaces().Lister()
	policies := factory.Networking().V1().NetworkPolicies().Lister()
	changed := make(chan struct{}, 1)
	notify := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { signal(changed) },
		UpdateFunc: func(any, any) { signal(changed) },
		DeleteFunc: func(any) { signal(changed) },
	}
	for _, inf := range []cache.SharedIndexInformer{
		factory.Core().V1().Pods().Informer(),
		factory.Core().V1().Namespaces().Informer(),
		factory.Networking().V1().NetworkPolicies().Informer(),
	} {
		if _, err := inf.AddEventHandler(notify); err != nil {
			return err
		}
	}
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	defer func() {
		if err := nft("delete table inet " + nftTable + "\n"); err != nil {
			log.Printf("remove table %s: %v", nftTable, err)
		}
	}()

	var applied string
	warned := map[string]bool{}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
		// Let a burst of events (a Deployment rolling) settle into one update.
		time.Sleep(100 * time.Millisecond)
		p, errP := policies.List(labels.Everything())
		po, errPo := pods.List(labels.Everything())
		ns, errNs := namespaces.List(labels.Everything())
		if err := firstError(errP, errPo, errNs); err != nil {
			return err
		}
		for _, pol := range p {
			key := pol.Namespace + "/" + pol.Name
			if hasEgress(pol) && !warned[key] {
				log.Printf("NetworkPolicy %s has Egress rules, which this enforcer does not enforce", key)
				warned[key] = true
			}
		}
		ruleset := ingressRuleset(p, po, ns)
		if ruleset == applied {
			continue
		}
		// One transaction: create the table if missing, delete it, write it anew.
		if err := nft("table inet " + nftTable + "\ndelete table inet " + nftTable + "\n" + ruleset); err != nil {
			log.Printf("apply nftables rules: %v", err)
			signal(changed) // retry on the next round
			time.Sleep(time.Second)
			continue
		}
		applied = ruleset
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func nft(script string) error {
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nft: %w: %s", err, out)
	}
	return nil
}

func hasEgress(p *networkingv1.NetworkPolicy) bool {
	for _, t := range p.Spec.PolicyTypes {
		if t == networkingv1.PolicyTypeEgress {
			return true
		}
	}
	return len(p.Spec.Egress) > 0
}

// appliesToIngress follows the API: with no policyTypes, every policy is an Ingress policy.
func appliesToIngress(p *networkingv1.NetworkPolicy) bool {
	if len(p.Spec.PolicyTypes) == 0 {
		return true
	}
	for _, t := range p.Spec.PolicyTypes {
		if t == networkingv1.PolicyTypeIngress {
			return true
		}
	}
	return false
}

// ingressRuleset renders the table: a forward chain that lets established flows through and sends
// new flows to an isolated Pod into that Pod's chain, which accepts what some rule allows and
// drops the rest. The output is deterministic, so an unchanged cluster is not rewritten.
func ingressRuleset(policies []*networkingv1.NetworkPolicy, pods []*corev1.Pod, namespaces []*corev1.Namespace) string {
	nsLabels := map[string]labels.Set{}
	for _, ns := range namespaces {
		nsLabels[ns.Name] = ns.Labels
	}
	// One Pod per address: a terminating Pod's object outlives its sandbox, whose address a new Pod
	// may already have; the address is the new Pod's, so the old one's policies must not hold it.
	byIP := map[string]*corev1.Pod{}
	for _, p := range pods {
		if p.Status.PodIP == "" || p.Spec.HostNetwork || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		if other, ok := byIP[p.Status.PodIP]; ok && !holdsAddress(p, other) {
			continue
		}
		byIP[p.Status.PodIP] = p
	}
	var live []*corev1.Pod
	for _, p := range byIP {
		live = append(live, p)
	}
	sort.Slice(live, func(i, j int) bool {
		return live[i].Namespace+"/"+live[i].Name < live[j].Namespace+"/"+live[j].Name
	})
	policies = append([]*networkingv1.NetworkPolicy(nil), policies...)
	sort.Slice(policies, func(i, j int) bool {
		return policies[i].Namespace+"/"+policies[i].Name < policies[j].Namespace+"/"+policies[j].Name
	})

	var chains, dispatch strings.Builder
	for i, pod := range live {
		var rules []string
		isolated := false
		for _, pol := range policies {
			if pol.Namespace != pod.Namespace || !appliesToIngress(pol) || !selects(&pol.Spec.PodSelector, pod.Labels) {
				continue
			}
			isolated = true
			for _, rule := range pol.Spec.Ingress {
				rules = append(rules, ruleLines(pol, rule, pod, live, nsLabels)...)
			}
		}
		if !isolated {
			continue
		}
		chain := fmt.Sprintf("pod-%d", i)
		fmt.Fprintf(&dispatch, "\t\tip daddr %s jump %s comment %q\n", pod.Status.PodIP, chain, pod.Namespace+"/"+pod.Name)
		fmt.Fprintf(&chains, "\tchain %s {\n", chain)
		for _, r := range rules {
			fmt.Fprintf(&chains, "\t\t%s accept\n", r)
		}
		chains.WriteString("\t\tdrop\n\t}\n")
	}
	return "table inet " + nftTable + " {\n" + chains.String() +
		"\tchain forward {\n\t\ttype filter hook forward priority filter - 1; policy accept;\n" +
		"\t\tct state established,related accept\n" + dispatch.String() + "\t}\n}\n"
}

// ruleLines renders one ingress rule for one destination Pod as nftables matches, one line per
// (source, port) pair; a rule whose peers select nothing renders no line.
// holdsAddress reports whether Pod a rather than b holds the address both report: the one that
// is not terminating, else the newer.
func holdsAddress(a, b *corev1.Pod) bool {
	if (a.DeletionTimestamp == nil) != (b.DeletionTimestamp == nil) {
		return a.DeletionTimestamp == nil
	}
	return b.CreationTimestamp.Before(&a.CreationTimestamp)
}

func ruleLines(pol *networkingv1.NetworkPolicy, rule networkingv1.NetworkPolicyIngressRule, dst *corev1.Pod, pods []*corev1.Pod, nsLabels map[string]labels.Set) []string {
	sources := []string{""} // no peers: from anywhere
	if len(rule.From) > 0 {
		sources = nil
		for _, peer := range rule.From {
			sources = append(sources, peerMatches(pol.Namespace, peer, pods, nsLabels)...)
		}
	}
	ports := []string{""} // no ports: every port
	if len(rule.Ports) > 0 {
		ports = nil
		for _, p := range rule.Ports {
			if m, ok := portMatch(p, dst); ok {
				ports = append(ports, m)
			}
		}
	}
	var lines []string
	for _, s := range sources {
		for _, p := range ports {
			if line := strings.TrimSpace(s + " " + p); line != "" {
				lines = append(lines, line)
			} else {
				lines = append(lines, "meta nfproto ipv4")
			}
		}
	}
	return lines
}

// peerMatches renders one peer as source-address matches.
func peerMatches(policyNamespace string, peer networkingv1.NetworkPolicyPeer, pods []*corev1.Pod, nsLabels map[string]labels.Set) []string {
	if b := peer.IPBlock; b != nil {
		m := "ip saddr " + b.CIDR
		if len(b.Except) > 0 {
			m += " ip saddr != { " + strings.Join(b.Except, ", ") + " }"
		}
		return []string{m}
	}
	var ips []string
	for _, p := range pods {
		inNamespace := p.Namespace == policyNamespace
		if peer.NamespaceSelector != nil {
			inNamespace = selects(peer.NamespaceSelector, nsLabels[p.Namespace])
		}
		if inNamespace && (peer.PodSelector == nil || selects(peer.PodSelector, p.Labels)) {
			ips = append(ips, p.Status.PodIP)
		}
	}
	if len(ips) == 0 {
		return nil
	}
	return []string{"ip saddr { " + strings.Join(ips, ", ") + " }"}
}

// portMatch renders one port of a rule; a named port the destination Pod does not declare
// matches nothing.
func portMatch(p networkingv1.NetworkPolicyPort, dst *corev1.Pod) (string, bool) {
	proto := corev1.ProtocolTCP
	if p.Protocol != nil {
		proto = *p.Protocol
	}
	l4 := strings.ToLower(string(proto))
	if p.Port == nil {
		return "meta l4proto " + l4, true
	}
	port := int(p.Port.IntVal)
	if p.Port.StrVal != "" {
		port = namedPort(dst, p.Port.StrVal, proto)
		if port == 0 {
			return "", false
		}
	}
	if p.EndPort != nil && p.Port.StrVal == "" {
		return fmt.Sprintf("%s dport %d-%d", l4, port, *p.EndPort), true
	}
	return fmt.Sprintf("%s dport %d", l4, port), true
}

func namedPort(pod *corev1.Pod, name string, proto corev1.Protocol) int {
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			pp := p.Protocol
			if pp == "" {
				pp = corev1.ProtocolTCP
			}
			if p.Name == name && pp == proto {
				return int(p.ContainerPort)
			}
		}
	}
	return 0
}

func selects(sel *metav1.LabelSelector, set labels.Set) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false // the API server validates selectors; an invalid one selects nothing
	}
	return s.Matches(set)
}
