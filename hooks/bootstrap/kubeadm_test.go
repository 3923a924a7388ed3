package bootstrap

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/taowa/taowa/versions"
)

func testCluster() Cluster {
	return Cluster{
		Server: "https://10.240.1.10:6443", KubernetesVersion: versions.Version{Major: 1, Minor: 37, Patch: 2},
		PodCIDR: netip.MustParsePrefix("10.200.0.0/16"), ServiceCIDR: netip.MustParsePrefix("10.32.0.0/16"),
		ClusterDomain: "tenant.local", ServerTLSBootstrap: true,
	}
}

// What `kubeadm join` reads: the cluster's version, endpoint and networks, and a kubelet
// configuration with the tenant's DNS that asks for serving certificates when the apiserver
// verifies kubelets.
func TestJoinConfigMaps(t *testing.T) {
	data, err := joinConfigMaps(testCluster())
	require.NoError(t, err)

	var cluster map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(data[KubeadmConfigMap]["ClusterConfiguration"]), &cluster))
	assert.Equal(t, "kubeadm.k8s.io/v1beta4", cluster["apiVersion"])
	assert.Equal(t, "v1.37.2", cluster["kubernetesVersion"])
	assert.Equal(t, "10.240.1.10:6443", cluster["controlPlaneEndpoint"])
	assert.Equal(t, map[string]any{"dnsDomain": "tenant.local", "podSubnet": "10.200.0.0/16", "serviceSubnet": "10.32.0.0/16"}, cluster["networking"])

	var kubelet map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(data[KubeletConfigMap]["kubelet"]), &kubelet))
	assert.Equal(t, "KubeletConfiguration", kubelet["kind"])
	assert.Equal(t, []any{"10.32.0.10"}, kubelet["clusterDNS"])
	assert.Equal(t, "tenant.local", kubelet["clusterDomain"])
	assert.Equal(t, true, kubelet["serverTLSBootstrap"])
	assert.Equal(t, "/etc/kubernetes/pki/ca.crt", kubelet["authentication"].(map[string]any)["x509"].(map[string]any)["clientCAFile"])

	c := testCluster()
	c.ServerTLSBootstrap = false
	data, err = joinConfigMaps(c)
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal([]byte(data[KubeletConfigMap]["kubelet"]), &kubelet))
	assert.Equal(t, false, kubelet["serverTLSBootstrap"])
}

func TestJoinConfigMapsRefusesBadInput(t *testing.T) {
	c := testCluster()
	c.Server = "10.240.1.10:6443"
	_, err := joinConfigMaps(c)
	assert.ErrorContains(t, err, `apiserver URL "10.240.1.10:6443"`)

	c = testCluster()
	c.ServiceCIDR = netip.MustParsePrefix("10.32.0.0/29")
	_, err = joinConfigMaps(c)
	assert.ErrorContains(t, err, "too small for the DNS Service address")
}
