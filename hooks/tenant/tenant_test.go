package tenant

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// kubeconfigSecret is the Secret tenant-a-<cred> whose kubeconfig authenticates with token, so
// that a test tells the credentials apart.
func kubeconfigSecret(t *testing.T, cred Credential, token string) runtime.Object {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["tenant-a"] = &clientcmdapi.Cluster{Server: "https://tenant-a-apiserver.tenants.svc:6443"}
	cfg.AuthInfos["user"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["tenant-a"] = &clientcmdapi.Context{Cluster: "tenant-a", AuthInfo: "user"}
	cfg.CurrentContext = "tenant-a"
	data, err := clientcmd.Write(*cfg)
	require.NoError(t, err)
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "tenant-a-" + string(cred), Namespace: "tenants"},
		Data: map[string][]byte{"kubeconfig": data}}
}

func TestAdminConfigReadsTheCredentialAskedFor(t *testing.T) {
	ctx := context.Background()
	meta := fake.NewClientset(kubeconfigSecret(t, Admin, "admin"), kubeconfigSecret(t, SuperAdmin, "super-admin"))
	for cred, token := range map[Credential]string{Admin: "admin", SuperAdmin: "super-admin"} {
		cfg, err := AdminConfig(ctx, meta, "tenants", "tenant-a", cred)
		require.NoError(t, err)
		assert.Equal(t, token, cfg.BearerToken, "credential %s", cred)
	}
}

// A release whose Secrets a taowa-hook before super-admin wrote: the hooks act with its admin
// kubeconfig, which that version issued in system:masters. The admin is never replaced by the
// super-admin.
func TestSuperAdminOfAnOlderReleaseIsItsAdmin(t *testing.T) {
	ctx := context.Background()
	cfg, err := AdminConfig(ctx, fake.NewClientset(kubeconfigSecret(t, Admin, "admin")), "tenants", "tenant-a", SuperAdmin)
	require.NoError(t, err)
	assert.Equal(t, "admin", cfg.BearerToken)

	_, err = AdminConfig(ctx, fake.NewClientset(kubeconfigSecret(t, SuperAdmin, "super-admin")), "tenants", "tenant-a", Admin)
	assert.ErrorIs(t, err, ErrNoControlPlane)
	_, err = AdminConfig(ctx, fake.NewClientset(), "tenants", "tenant-a", SuperAdmin)
	assert.ErrorIs(t, err, ErrNoControlPlane)
}
