// Package kubeletcsr approves the serving certificates kubelets ask for (signer
// kubernetes.io/kubelet-serving), which the controller-manager signs but never approves: a
// request is approved only when a node asks for itself and names no address but its Node's, so
// that the apiserver can verify every kubelet it dials (--kubelet-certificate-authority). It runs
// beside the tenant's controller-manager, with its identity.
package kubeletcsr

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

const (
	nodeUserPrefix = "system:node:"
	nodesGroup     = "system:nodes"
	// Reason is the reason of the approval condition this package sets.
	Reason = "TaowaKubeletServingApprover"
)

// Judge returns nil when csr is a kubelet serving request that node may have: the requester is
// that node, the subject is system:node:<name> in system:nodes, the usages are a TLS server's,
// and every name and address in it belongs to the Node.
func Judge(csr *certificatesv1.CertificateSigningRequest, node *corev1.Node) error {
	spec := csr.Spec
	if spec.SignerName != certificatesv1.KubeletServingSignerName {
		return fmt.Errorf("signer %s is not %s", spec.SignerName, certificatesv1.KubeletServingSignerName)
	}
	if want := nodeUserPrefix + node.Name; spec.Username != want || !slices.Contains(spec.Groups, nodesGroup) {
		return fmt.Errorf("requested by %s (groups %v), not by node %s", spec.Username, spec.Groups, node.Name)
	}
	for _, u := range spec.Usages {
		if u != certificatesv1.UsageDigitalSignature && u != certificatesv1.UsageKeyEncipherment && u != certificatesv1.UsageServerAuth {
			return fmt.Errorf("usage %q is not a TLS server's", u)
		}
	}
	if !slices.Contains(spec.Usages, certificatesv1.UsageServerAuth) {
		return errors.New("no server auth usage")
	}
	block, _ := pem.Decode(spec.Request)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return errors.New("the request is not a PEM certificate request")
	}
	req, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return fmt.Errorf("parse the certificate request: %w", err)
	}
	if err := req.CheckSignature(); err != nil {
		return fmt.Errorf("the certificate request's signature: %w", err)
	}
	if req.Subject.CommonName != nodeUserPrefix+node.Name || !slices.Equal(req.Subject.Organization, []string{nodesGroup}) {
		return fmt.Errorf("subject %q is not system:node:%s in %s", req.Subject, node.Name, nodesGroup)
	}
	if len(req.EmailAddresses) > 0 || len(req.URIs) > 0 {
		return errors.New("email or URI names are not a kubelet's")
	}
	if len(req.IPAddresses) == 0 && len(req.DNSNames) == 0 {
		return errors.New("no address or name to serve at")
	}
	ips, names := nodeAddresses(node)
	for _, ip := range req.IPAddresses {
		if !slices.ContainsFunc(ips, ip.Equal) {
			return fmt.Errorf("address %s is not one of Node %s's %v", ip, node.Name, ips)
		}
	}
	for _, name := range req.DNSNames {
		if !slices.Contains(names, name) {
			return fmt.Errorf("name %s is not one of Node %s's %v", name, node.Name, names)
		}
	}
	return nil
}

func nodeAddresses(node *corev1.Node) ([]net.IP, []string) {
	var ips []net.IP
	var names []string
	for _, a := range node.Status.Addresses {
		switch a.Type {
		case corev1.NodeInternalIP, corev1.NodeExternalIP:
			if ip := net.ParseIP(a.Address); ip != nil {
				ips = append(ips, ip)
			}
		case corev1.NodeHostName, corev1.NodeInternalDNS, corev1.NodeExternalDNS:
			names = append(names, a.Address)
		}
	}
	return ips, names
}

// ApprovePending judges every pending kubelet serving request and approves those that pass;
// the others are left pending, with the reason on out. It returns how many it approved.
func ApprovePending(ctx context.Context, client kubernetes.Interface, out io.Writer) (int, error) {
	csrs := client.CertificatesV1().CertificateSigningRequests()
	list, err := csrs.List(ctx, metav1.ListOptions{FieldSelector: "spec.signerName=" + certificatesv1.KubeletServingSignerName})
	if err != nil {
		return 0, fmt.Errorf("list CertificateSigningRequests: %w", err)
	}
	approved := 0
	for i := range list.Items {
		csr := &list.Items[i]
		if decided(csr) {
			continue
		}
		name, ok := strings.CutPrefix(csr.Spec.Username, nodeUserPrefix)
		if !ok {
			fmt.Fprintf(out, "left %s pending: requested by %s, not by a node\n", csr.Name, csr.Spec.Username)
			continue
		}
		node, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			fmt.Fprintf(out, "left %s pending: no Node %s\n", csr.Name, name)
			continue
		}
		if err != nil {
			return approved, fmt.Errorf("read Node %s: %w", name, err)
		}
		if err := Judge(csr, node); err != nil {
			fmt.Fprintf(out, "left %s pending: %v\n", csr.Name, err)
			continue
		}
		csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
			Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: Reason,
			Message: "a serving certificate for Node " + name + "'s own addresses", LastUpdateTime: metav1.Now(),
		})
		if _, err := csrs.UpdateApproval(ctx, csr.Name, csr, metav1.UpdateOptions{}); err != nil {
			if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
				continue // another replica decided first, or it is gone: the next round sees
			}
			return approved, fmt.Errorf("approve %s: %w", csr.Name, err)
		}
		fmt.Fprintf(out, "approved %s: serving certificate of Node %s\n", csr.Name, name)
		approved++
	}
	return approved, nil
}

func decided(csr *certificatesv1.CertificateSigningRequest) bool {
	for _, c := range csr.Status.Conditions {
		if c.Type == certificatesv1.CertificateApproved || c.Type == certificatesv1.CertificateDenied || c.Type == certificatesv1.CertificateFailed {
			return true
		}
	}
	return false
}

// Run approves pending requests every interval until ctx ends; errors are reported on out and
// retried.
func Run(ctx context.Context, client kubernetes.Interface, interval time.Duration, out io.Writer) {
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		if _, err := ApprovePending(ctx, client, out); err != nil {
			fmt.Fprintf(out, "error: %v\n", err)
		}
	}, interval)
}
