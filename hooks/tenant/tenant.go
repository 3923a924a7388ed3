// Package tenant gives the hooks a client of a tenant's own apiserver, built from the admin
// kubeconfig Secret that `taowa-hook pki` writes in the meta cluster.
package tenant

import (
	"context"
	"fmt"
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

// AdminConfig reads the admin kubeconfig of the release fullName in namespace.
func AdminConfig(ctx context.Context, meta kubernetes.Interface, namespace, fullName string) (*rest.Config, error) {
	name := fullName + "-" + pki.SecretAdminKubeconfig
	s, err := meta.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
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
	return cfg, nil
}

// WaitReady polls the tenant apiserver's /readyz until it answers ok or ctx ends, and returns
// the last error on timeout so the hook's log says why.
func WaitReady(ctx context.Context, client kubernetes.Interface) error {
	var last error
	err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
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
