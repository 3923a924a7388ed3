package bootstrap

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/taowa/taowa/hooks/pki"
)

// The identities the PKI hook issues get exactly their rights: the admin kubeconfig's group is
// cluster-admin through one binding, which can be deleted; the metrics client may get /metrics and
// nothing else. A second run converges to the same objects.
func TestApplyBindsTheClientIdentities(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset()
	require.NoError(t, Apply(ctx, client, testCluster()))
	require.NoError(t, Apply(ctx, client, testCluster()))
	rbac := client.RbacV1()

	admins, err := rbac.ClusterRoleBindings().Get(ctx, ClusterAdmins, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"}, admins.RoleRef)
	assert.Equal(t, []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: pki.ClusterAdminsGroup}}, admins.Subjects)

	reader, err := rbac.ClusterRoles().Get(ctx, MetricsReader, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}, reader.Rules)
	binding, err := rbac.ClusterRoleBindings().Get(ctx, MetricsReader, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: MetricsReader}, binding.RoleRef)
	assert.Equal(t, []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: pki.MetricsScraperUser}}, binding.Subjects)

	// No other binding names either identity.
	bindings, err := rbac.ClusterRoleBindings().List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	for _, b := range bindings.Items {
		for _, s := range b.Subjects {
			if s.Name == pki.ClusterAdminsGroup || s.Name == pki.MetricsScraperUser {
				assert.Contains(t, []string{ClusterAdmins, MetricsReader}, b.Name, "binding %s names %s", b.Name, s.Name)
			}
		}
	}
}
