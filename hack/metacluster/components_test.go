package metacluster

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The meta node's and a tenant node's CNI configurations are valid conflists with the plugins
// each needs: the meta node chains eni after the bridge, a tenant node does not.
func TestBridgeConflist(t *testing.T) {
	c := Config{StateDir: "/var/lib/taowa-meta"}
	for name, tc := range map[string]struct {
		conflist string
		subnet   string
		types    []string
	}{
		"meta node":   {c.cniConfig(), NodePodCIDR.String(), []string{"bridge", "portmap", "eni"}},
		"tenant node": {c.nodeConfig("worker-1", "v1.37.2").bridgeConflist("taowa-node", "10.200.1.0/24"), "10.200.1.0/24", []string{"bridge", "portmap"}},
	} {
		t.Run(name, func(t *testing.T) {
			var conf struct {
				Plugins []struct {
					Type string `json:"type"`
					IPAM struct {
						Ranges  [][]struct{ Subnet string } `json:"ranges"`
						DataDir string                      `json:"dataDir"`
					} `json:"ipam"`
				} `json:"plugins"`
			}
			require.NoError(t, json.Unmarshal([]byte(tc.conflist), &conf), tc.conflist)
			var types []string
			for _, p := range conf.Plugins {
				types = append(types, p.Type)
			}
			assert.Equal(t, tc.types, types)
			assert.Equal(t, tc.subnet, conf.Plugins[0].IPAM.Ranges[0][0].Subnet)
		})
	}
}

func TestKubeadmKubeletArgs(t *testing.T) {
	args, err := kubeadmKubeletArgs("# written by kubeadm\nKUBELET_KUBEADM_ARGS=\"--container-runtime-endpoint=unix:///run/c.sock --pod-infra-container-image=registry.k8s.io/pause:3.10\"\n")
	require.NoError(t, err)
	assert.Equal(t, []string{"--container-runtime-endpoint=unix:///run/c.sock", "--pod-infra-container-image=registry.k8s.io/pause:3.10"}, args)

	_, err = kubeadmKubeletArgs("OTHER=1\n")
	assert.ErrorContains(t, err, "no KUBELET_KUBEADM_ARGS")
	_, err = kubeadmKubeletArgs("KUBELET_KUBEADM_ARGS=\"--unterminated\n")
	assert.ErrorContains(t, err, "KUBELET_KUBEADM_ARGS=")
}

// A drop-in over kubeadm's configuration carries the machine's settings and paths, never the
// cluster's: those come from the tenant's kubelet-config ConfigMap.
func TestKubeletMachineDropIn(t *testing.T) {
	k := kubeletConfig{clientCAFile: "/n/etc-kubernetes/pki/ca.crt", staticPodPath: "/n/etc-kubernetes/manifests", cgroupRoot: "/taowa-meta-node-x",
		containerdSocket: "/n/containerd.sock", clusterDNS: "10.32.0.10", clusterDomain: "cluster.local", serverTLSBootstrap: true}
	dropIn := k.machineYAML()
	for _, want := range []string{`clientCAFile: "/n/etc-kubernetes/pki/ca.crt"`, `staticPodPath: "/n/etc-kubernetes/manifests"`, "cgroupDriver: cgroupfs", "containerRuntimeEndpoint: unix:///n/containerd.sock"} {
		assert.Contains(t, dropIn, want)
	}
	for _, cluster := range []string{"clusterDNS", "clusterDomain", "serverTLSBootstrap", "rotateCertificates", "webhook"} {
		assert.NotContains(t, dropIn, cluster)
	}
	assert.Contains(t, k.yaml(), `clusterDNS: ["10.32.0.10"]`)
	assert.Contains(t, k.yaml(), "serverTLSBootstrap: true")
}
