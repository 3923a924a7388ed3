package density

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// example is a run of 40 tenants: the node's memory grows by 450 MiB a tenant from 2 GiB.
func example() Result {
	r := Result{Date: "2026-12-01", Profile: "minimal", Idle: &Idle{
		Seconds: 300, TenantMemoryMeanBytes: 410 << 20, TenantMemoryMaxBytes: 455 << 20,
		NodeCPUMillicoresMean: 1450, NodeCPUMillicoresMax: 1900,
		ReadyzRequests: 12000, ReadyzP50Seconds: 0.004, ReadyzP99Seconds: 0.021,
		BareMemoryBytes: 489 << 20, TenantRSSMeanBytes: 520 << 20,
	}}
	for n := 1; n <= 40; n++ {
		r.Samples = append(r.Samples, Sample{
			Tenants:                   n,
			NodeMemoryWorkingSetBytes: (2048 + 450*uint64(n)) << 20,
			NodeCPUMillicores:         300 + 35*float64(n) + float64(n%3)*20,
			TenantMemoryMeanBytes:     (400 + uint64(n)/4) << 20,
			TenantMemoryMaxBytes:      (430 + uint64(n)/2) << 20,
		})
	}
	return r
}

func TestWritePNGDecodes(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, WritePNG(&buf, example()))
	img, err := png.Decode(&buf)
	require.NoError(t, err)
	assert.Equal(t, image.Rect(0, 0, width, height), img.Bounds())
	if path := os.Getenv("DENSITY_PNG"); path != "" { // to look at it
		var out bytes.Buffer
		require.NoError(t, WritePNG(&out, example()))
		require.NoError(t, os.WriteFile(path, out.Bytes(), 0o644))
	}
}

func TestWritePNGNamesWhatIsMissing(t *testing.T) {
	err := WritePNG(&bytes.Buffer{}, Result{})
	require.Error(t, err)
	for _, what := range []string{"samples", "date", "profile"} {
		assert.Contains(t, err.Error(), what)
	}

	r := example()
	r.Samples = nil
	err = WritePNG(&bytes.Buffer{}, r)
	require.EqualError(t, err, "density: cannot plot a result with no samples")

	r = example()
	r.Samples[3].NodeCPUMillicores = -1
	assert.ErrorContains(t, WritePNG(&bytes.Buffer{}, r), "sample 3")
}

func TestResultJSON(t *testing.T) {
	b, err := json.Marshal(example())
	require.NoError(t, err)
	for _, key := range []string{`"tenants":1`, `"nodeMemoryWorkingSetBytes":`, `"nodeCPUMillicores":`, `"tenantMemoryMeanBytes":`,
		`"tenantMemoryMaxBytes":`, `"date":"2026-12-01"`, `"profile":"minimal"`, `"seconds":300`, `"nodeCPUMillicoresMean":`,
		`"nodeCPUMillicoresMax":`, `"readyzRequests":12000`, `"readyzFailures":0`, `"readyzP50Seconds":`, `"readyzP99Seconds":`,
		`"bareMemoryBytes":`, `"tenantRSSMeanBytes":`} {
		assert.Contains(t, string(b), key)
	}
	assert.NotContains(t, string(b), "stopped")
	var back Result
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, example(), back)
}

func TestAxis(t *testing.T) {
	x := newAxis(40, 1, 100, 500)
	assert.Equal(t, 40.0, x.max)
	assert.Equal(t, 5.0, x.step)
	assert.Equal(t, 100, x.pos(0))
	assert.Equal(t, 300, x.pos(20))
	assert.Equal(t, 500, x.pos(40))
	assert.Equal(t, []string{"0", "5", "10", "15", "20", "25", "30", "35", "40"}, labels(x))

	// Vertical: 0 at the bottom.
	y := newAxis(19000, 0, 400, 100)
	assert.Equal(t, 20000.0, y.max)
	assert.Equal(t, 400, y.pos(0))
	assert.Equal(t, 325, y.pos(5000))
	assert.Equal(t, 100, y.pos(20000))

	assert.Equal(t, []string{"0", "1", "2", "3"}, labels(newAxis(3, 1, 0, 100)), "whole tenants")
	assert.Equal(t, []string{"0.0", "0.2", "0.4", "0.6", "0.8", "1.0"}, labels(newAxis(0.9, 0, 0, 100)))
	assert.Equal(t, 1.0, newAxis(0, 0, 0, 100).max, "an all-zero series still has an axis")
}

func labels(a axis) []string {
	var ls []string
	for _, t := range a.ticks() {
		ls = append(ls, a.label(t))
	}
	return ls
}

// TestPointsLandOnTheAxes checks that a sample is drawn where the axes' tick labels say: the
// 20th tenant at the x of tick "20", its memory at the y of its MiB, in its series' colour.
func TestPointsLandOnTheAxes(t *testing.T) {
	r := example()
	img, err := render(r)
	require.NoError(t, err)
	l := newLayout(r.Samples)
	// The node's working set reaches 20048 MiB; 5% headroom and ticks every 5000 MiB.
	assert.Equal(t, 25000.0, l.mem.max)
	assert.Equal(t, 5000.0, l.mem.step)
	s := r.Samples[19]
	x := l.tenants.pos(20)
	assert.Equal(t, plotLeft+(plotRight-plotLeft)/2, x, "20 of 40 tenants is the middle")
	assert.Equal(t, colorNodeMemory, at(img, x, l.mem.pos(mib(s.NodeMemoryWorkingSetBytes))))
	assert.Equal(t, colorTenantMemory, at(img, x, l.mem.pos(mib(s.TenantMemoryMeanBytes))))
	assert.Equal(t, colorNodeCPU, at(img, x, l.cpu.pos(s.NodeCPUMillicores)))

	// The node's 11048 MiB at 20 tenants, read back from the pixel's height against the axis.
	y := l.mem.pos(mib(s.NodeMemoryWorkingSetBytes))
	mibPerPixel := l.mem.max / float64(memBottom-memTop)
	assert.InDelta(t, 11048, float64(memBottom-y)*mibPerPixel, mibPerPixel)

	// Nothing of a series far from its points: the top left corner of the memory panel is blank.
	assert.Equal(t, color.RGBA{0xff, 0xff, 0xff, 0xff}, at(img, plotLeft+30, memTop+10))
}

func at(img *image.RGBA, x, y int) color.RGBA { return img.RGBAAt(x, y) }

func TestSummary(t *testing.T) {
	r := example()
	r.Stopped = "tenant 41 not Ready within 5m: " + strings.Repeat("x", 300)
	lines := summary(r, r.Samples)
	require.Len(t, lines, 3)
	assert.True(t, strings.HasPrefix(lines[0], "stopped at 40 tenants: tenant 41 not Ready"))
	for _, l := range lines {
		assert.LessOrEqual(t, len(l), maxChars)
	}
	assert.Contains(t, lines[1], "tenant working set mean 410 MiB, max 455 MiB")
	assert.Contains(t, lines[2], "bare processes 489 MiB")

	r.Stopped, r.Idle = "", nil
	assert.Empty(t, summary(r, r.Samples))
}
