package eni_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var (
	latencyIterations = flag.Int("eni.latency-iterations", 0, "run TestLatencyAgainstHostDevice with this many ADD/DEL cycles per plugin (0 skips it)")
	hostDeviceDir     = flag.String("eni.host-device-dir", filepath.Join(os.Getenv("HOME"), ".cache/taowa/tools"),
		"directory holding the host-device and static plugins of containernetworking/plugins v1.10.0")
	latencyReport = flag.String("eni.latency-report", "", "write the latency report as JSON to this file")
)

// latencyCase is one plugin configuration whose ADD and DEL are timed.
type latencyCase struct {
	name           string
	binary, path   string
	conf           []byte
	pod            *pod
	ifName         string
	addNs, delNs   []time.Duration
	addP50, addP99 time.Duration
	delP50, delP99 time.Duration
}

// TestLatencyAgainstHostDevice times ADD and DEL of eni against host-device
// moving the same kind of ENI (a veth whose peer is in the VPC namespace),
// with and without static IPAM configuring the address and VPC route. All
// plugins run as fresh processes in the node namespace, interleaved so
// that they share the machine's conditions.
func TestLatencyAgainstHostDevice(t *testing.T) {
	if *latencyIterations == 0 {
		t.Skip("set -eni.latency-iterations to run")
	}
	hostDevice := filepath.Join(*hostDeviceDir, "host-device")
	if _, err := os.Stat(hostDevice); err != nil {
		t.Skipf("host-device is not built: GOBIN=%s go install github.com/containernetworking/plugins/plugins/main/host-device@v1.10.0 (and .../ipam/static@v1.10.0): %v", *hostDeviceDir, err)
	}
	e := newTestEnv(t, 3)
	gateway := e.vpc.Gateway().String()
	hostDeviceConf := func(eni int, ipam map[string]any) []byte {
		conf := map[string]any{"cniVersion": "1.1.0", "name": "bench", "type": "host-device", "device": e.enis[eni].HostIfName}
		if ipam != nil {
			conf["ipam"] = ipam
		}
		data, err := json.Marshal(conf)
		require.NoError(t, err)
		return data
	}
	static := map[string]any{
		"type":      "static",
		"addresses": []any{map[string]any{"address": e.enis[2].Address.String(), "gateway": gateway}},
		"routes":    []any{map[string]any{"dst": vpcCIDR.String(), "gw": gateway}},
	}
	cases := []*latencyCase{
		{name: "eni", binary: pluginBinary, path: filepath.Dir(pluginBinary), conf: e.conf(nil), pod: e.newPod(1)},
		{name: "host-device", binary: hostDevice, path: *hostDeviceDir, conf: hostDeviceConf(1, nil), pod: e.newPod(2)},
		{name: "host-device+static", binary: hostDevice, path: *hostDeviceDir, conf: hostDeviceConf(2, static), pod: e.newPod(3)},
	}
	const warmUp = 5
	for i := range warmUp + *latencyIterations {
		for _, c := range cases {
			add := invocation{command: "ADD", containerID: c.pod.containerID, netns: c.pod.netns.Path(), ifName: "eth1", conf: c.conf, binary: c.binary, cniPath: c.path}
			del := add
			del.command = "DEL"
			addTime := timed(t, e, add)
			delTime := timed(t, e, del)
			if i >= warmUp {
				c.addNs, c.delNs = append(c.addNs, addTime), append(c.delNs, delTime)
			}
		}
	}
	allocs, err := e.store.LoadAllocations()
	require.NoError(t, err)
	require.Empty(t, allocs.ByENI)

	report := map[string]any{"iterations": *latencyIterations}
	for _, c := range cases {
		c.addP50, c.addP99 = percentile(c.addNs, 50), percentile(c.addNs, 99)
		c.delP50, c.delP99 = percentile(c.delNs, 50), percentile(c.delNs, 99)
		t.Logf("%-19s ADD p50 %6.2fms p99 %6.2fms   DEL p50 %6.2fms p99 %6.2fms", c.name, ms(c.addP50), ms(c.addP99), ms(c.delP50), ms(c.delP99))
		report[c.name] = map[string]float64{"addP50ms": ms(c.addP50), "addP99ms": ms(c.addP99), "delP50ms": ms(c.delP50), "delP99ms": ms(c.delP99)}
	}
	eni := cases[0]
	for _, other := range cases[1:] {
		ratios := map[string]float64{
			"addP50": ratio(eni.addP50, other.addP50), "addP99": ratio(eni.addP99, other.addP99),
			"delP50": ratio(eni.delP50, other.delP50), "delP99": ratio(eni.delP99, other.delP99),
		}
		t.Logf("eni / %-19s ADD p50 %.2f p99 %.2f   DEL p50 %.2f p99 %.2f", other.name, ratios["addP50"], ratios["addP99"], ratios["delP50"], ratios["delP99"])
		report["eni/"+other.name] = ratios
	}
	if *latencyReport != "" {
		data, err := json.MarshalIndent(report, "", "  ")
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(*latencyReport, data, 0o644))
	}
}

func timed(t *testing.T, e *testEnv, inv invocation) time.Duration {
	t.Helper()
	start := time.Now()
	_, err := e.run(inv)
	elapsed := time.Since(start)
	require.NoError(t, err, fmt.Sprintf("%s %s", inv.binary, inv.command))
	return elapsed
}

func percentile(samples []time.Duration, p int) time.Duration {
	sorted := slices.Sorted(slices.Values(samples))
	return sorted[(len(sorted)-1)*p/100]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func ratio(a, b time.Duration) float64 { return float64(a) / float64(b) }
