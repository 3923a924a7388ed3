// Package tenant gives the hooks and the taowa CLI a client of a tenant's own apiserver, built
// from a kubeconfig Secret that `taowa-hook pki` writes in the meta cluster.
package tenant

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/taowa/taowa/hooks/pki"
)

// ErrNoControlPlane reports that the release has no admin kubeconfig yet: nothing was installed.
var ErrNoControlPlane = fmt.Errorf("no tenant control plane: its admin kubeconfig Secret does not exist")

// Credential is the kubeconfig Secret (a pki.Secret* name) a client acts with.
type Credential string

const (
	// Admin is in pki.ClusterAdminsGroup, cluster-admin through a ClusterRoleBinding that the ready
	// hook applies and that can be deleted: what people, the CLI and helm test use.
	Admin Credential = pki.SecretAdminKubeconfig
	// SuperAdmin is in system:masters, which no RBAC change revokes: the hooks act with it, because
	// they write RBAC and run before the ready hook has bound the admins' group (a first install, a
	// repair upgrade of an install whose ready hook failed).
	SuperAdmin Credential = pki.SecretSuperAdminKubeconfig
)

// AdminConfig reads the kubeconfig cred of the release fullName in namespace. A release whose PKI
// Secrets were written by a taowa-hook older than the super-admin has none: its admin kubeconfig,
// which that version issued in system:masters, stands in. The first pre-upgrade hook to this
// version meets that (it runs before its PKI step writes the super-admin), and the PKI step moves
// the admin to its group only after writing the super-admin.
func AdminConfig(ctx context.Context, meta kubernetes.Interface, namespace, fullName string, cred Credential) (*rest.Config, error) {
	secrets := meta.CoreV1().Secrets(namespace)
	name := fullName + "-" + string(cred)
	s, err := secrets.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) && cred == SuperAdmin {
		name = fullName + "-" + string(Admin)
		s, err = secrets.Get(ctx, name, metav1.GetOptions{})
	}
	if apierrors.IsNotFound(err) {
		return nil, ErrNoControlPlane
	}
	if err != nil {
		return nil, fmt.Errorf("read Secret %s/%s: %w", namespace, name, err)
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(s.Data[pki.KeyKubeconfig])
	if err != nil {
		return nil, fmt.Errorf("Secret %s/%s: %w", namespace, name, err)
	}
	cfg.Timeout = 15 * time.Second
	cfg.UserAgent = "taowa-hook"
	// The bootstrap applies a few dozen objects: client-go's default 5 requests a second would
	// make that seconds of waiting.
	cfg.QPS, cfg.Burst = 50, 100
	return cfg, nil
}

// WaitReady polls the tenant apiserver's /readyz until it answers ok or ctx ends, and returns
// the last error on timeout so the hook's log says why.
func WaitReady(ctx context.Context, client kubernetes.Interface) error {
	var last error
	// Every poll period is time a `helm install --wait` waits for nothing.
	err := wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err == nil && string(body) == "ok" {
			return true, nil
		}
		last = fmt.Errorf("/readyz: %s %v", body, err)
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("tenant apiserver not ready: %w (last: %v)", err, last)
	}
	return nil
}

// ByClusterIP returns admin with the apiserver Service's ClusterIP as its server: TLS is then
// verified against the IP, as a client that dials the address (or a load balancer in front of
// it) does.
func ByClusterIP(ctx context.Context, meta kubernetes.Interface, namespace, fullName string, admin *rest.Config) (*rest.Config, error) {
	name := fullName + "-apiserver"
	svc, err := meta.CoreV1().Services(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("read Service %s/%s: %w", namespace, name, err)
	}
	if len(svc.Spec.Ports) == 0 || net.ParseIP(svc.Spec.ClusterIP) == nil {
		return nil, fmt.Errorf("Service %s/%s has no ClusterIP and port", namespace, name)
	}
	cfg := rest.CopyConfig(admin)
	cfg.Host = "https://" + net.JoinHostPort(svc.Spec.ClusterIP, strconv.Itoa(int(svc.Spec.Ports[0].Port)))
	return cfg, nil
}
