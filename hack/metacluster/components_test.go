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
