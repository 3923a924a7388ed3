package operator

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/utils/ptr"

	"github.com/taowa/taowa/release/api/v1alpha1"
)

// A Cluster's add-on fields map onto the chart's addons values; unset ones are left to the
// chart's defaults (both on).
func TestChartValuesAddons(t *testing.T) {
	values, err := ChartValues(v1alpha1.ClusterSpec{})
	require.NoError(t, err)
	assert.NotContains(t, values, "addons")

	values, err = ChartValues(v1alpha1.ClusterSpec{Addons: v1alpha1.AddonsSpec{
		KubeProxy: v1alpha1.KubeProxySpec{Enabled: ptr.To(false)},
		CoreDNS:   v1alpha1.CoreDNSSpec{Replicas: ptr.To[int32](2)},
	}})
	require.NoError(t, err)
	assert.Equal(t, map[string]any{
		"kubeProxy": map[string]any{"enabled": false},
		"coreDNS":   map[string]any{"replicas": float64(2)},
	}, values["addons"])
}

func TestChartValuesHibernated(t *testing.T) {
	values, err := ChartValues(v1alpha1.ClusterSpec{})
	require.NoError(t, err)
	assert.NotContains(t, values, "hibernated", "awake is the chart's default")
	values, err = ChartValues(v1alpha1.ClusterSpec{Hibernated: true})
	require.NoError(t, err)
	assert.Equal(t, true, values["hibernated"])
}

// A profile goes to the chart as it is; a component's own resources go beside it and win there.
func TestChartValuesProfile(t *testing.T) {
	values, err := ChartValues(v1alpha1.ClusterSpec{})
	require.NoError(t, err)
	assert.NotContains(t, values, "profile", "the chart's default")
	values, err = ChartValues(v1alpha1.ClusterSpec{Profile: v1alpha1.ProfileSmall})
	require.NoError(t, err)
	assert.Equal(t, "small", values["profile"])
}

func TestChartValuesObjectStore(t *testing.T) {
	values, err := ChartValues(v1alpha1.ClusterSpec{})
	require.NoError(t, err)
	assert.NotContains(t, values, "etcd", "no store: the chart's default")
	values, err = ChartValues(v1alpha1.ClusterSpec{Etcd: v1alpha1.EtcdSpec{Snapshots: v1alpha1.SnapshotsSpec{ObjectStore: &v1alpha1.ObjectStoreSpec{
		Endpoint: "s3.example:443", Bucket: "backups", Prefix: "meta-east", CredentialsSecret: "s3", EncryptionKeySecret: "key", Retain: ptr.To[int32](10),
	}}}})
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"snapshots": map[string]any{"objectStore": map[string]any{
		"endpoint": "s3.example:443", "bucket": "backups", "prefix": "meta-east", "insecure": false,
		"credentialsSecret": "s3", "encryptionKeySecret": "key", "retain": float64(10),
	}}}, values["etcd"])
}

// The snapshot a Cluster was restored from stays in its values: later upgrades keep the restore
// (done once, a no-op after) instead of dropping it.
func TestChartValuesRestore(t *testing.T) {
	values, err := ChartValues(v1alpha1.ClusterSpec{Etcd: v1alpha1.EtcdSpec{Restore: &v1alpha1.RestoreSpec{
		From: "tenants/old", Snapshot: "final-20261202T080000Z-rev42.db", FreshPKI: true}}})
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"restoreFrom": "final-20261202T080000Z-rev42.db", "restoreFromTenant": "tenants/old"}, values["etcd"])
}
