package density

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// The PNG's size and layout, in pixels: a header (title, up to three lines of summary, legend),
// a memory panel above a CPU panel, and the shared axis of tenants below them.
const (
	width  = 960
	height = 680

	plotLeft  = 80
	plotRight = width - 40

	titleY    = 22
	summaryY  = 40 // first of up to three lines, 16 apart
	legendY   = 96
	memTop    = 124
	memBottom = 394
	cpuTop    = 432
	cpuBottom = 602
	xLabelY   = 648

	charWidth = 7 // basicfont.Face7x13
	maxChars  = (width - 2*12) / charWidth
)

var (
	colorNodeMemory   = color.RGBA{0x4c, 0x72, 0xb0, 0xff}
	colorTenantMemory = color.RGBA{0xdd, 0x84, 0x52, 0xff}
	colorNodeCPU      = color.RGBA{0x55, 0xa8, 0x68, 0xff}
	colorAxis         = color.RGBA{0x40, 0x40, 0x40, 0xff}
	colorGrid         = color.RGBA{0xe0, 0xe0, 0xe0, 0xff}
)

// WritePNG draws the result as a PNG: the node's memory working set and the mean tenant's (MiB),
// and the node's CPU (millicores) in a second panel, against the number of tenants Ready, under a
// title naming the profile and date and a summary of the idle measurement.
func WritePNG(w io.Writer, r Result) error {
	img, err := render(r)
	if err != nil {
		return err
	}
	return png.Encode(w, img)
}

// check says what a result lacks to be plotted.
func check(r Result) error {
	var missing []string
	if len(r.Samples) == 0 {
		missing = append(missing, "samples")
	}
	if r.Date == "" {
		missing = append(missing, "date")
	}
	if r.Profile == "" {
		missing = append(missing, "profile")
	}
	if len(missing) > 0 {
		return fmt.Errorf("density: cannot plot a result with no %s", strings.Join(missing, ", no "))
	}
	for i, s := range r.Samples {
		if s.Tenants < 0 || s.NodeCPUMillicores < 0 || math.IsNaN(s.NodeCPUMillicores) || math.IsInf(s.NodeCPUMillicores, 0) {
			return fmt.Errorf("density: sample %d: %d tenants, %v millicores", i, s.Tenants, s.NodeCPUMillicores)
		}
	}
	return nil
}

// axis maps values from 0 to max onto the pixels from..to (to < from for a vertical axis).
type axis struct {
	max, step float64
	from, to  int
}

// newAxis is an axis from 0 to at least maxValue, ending on a tick, with ticks at 1, 2 or 5
// times a power of ten, at most eight of them past 0 and no closer than minStep.
func newAxis(maxValue, minStep float64, from, to int) axis {
	if !(maxValue > 0) {
		maxValue = 1
	}
	step := max(niceStep(maxValue/8), minStep)
	return axis{max: math.Ceil(maxValue/step-1e-9) * step, step: step, from: from, to: to}
}

// niceStep is the smallest of 1, 2, 5 times a power of ten that is at least raw.
func niceStep(raw float64) float64 {
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5} {
		if m*mag >= raw*(1-1e-9) {
			return m * mag
		}
	}
	return 10 * mag
}

// pos is the pixel of value v.
func (a axis) pos(v float64) int {
	return a.from + int(math.Round(v/a.max*float64(a.to-a.from)))
}

// ticks are the values of the tick marks, 0 and max included.
func (a axis) ticks() []float64 {
	var ts []float64
	for i := 0; float64(i)*a.step <= a.max*(1+1e-9); i++ {
		ts = append(ts, float64(i)*a.step)
	}
	return ts
}

// label is a tick's value with as many decimals as the step needs.
func (a axis) label(v float64) string {
	decimals := 0
	if a.step < 1 {
		decimals = int(math.Ceil(-math.Log10(a.step) - 1e-9))
	}
	return strconv.FormatFloat(v, 'f', decimals, 64)
}

// layout is where the chart's axes lie for one result.
type layout struct {
	tenants axis // horizontal, shared by both panels
	mem     axis // MiB
	cpu     axis // millicores
}

func newLayout(samples []Sample) layout {
	var tenants, mem, cpu float64
	for _, s := range samples {
		tenants = max(tenants, float64(s.Tenants))
		mem = max(mem, mib(s.NodeMemoryWorkingSetBytes), mib(s.TenantMemoryMeanBytes))
		cpu = max(cpu, s.NodeCPUMillicores)
	}
	// A little headroom so that the highest point does not sit on the frame.
	return layout{
		tenants: newAxis(tenants, 1, plotLeft, plotRight),
		mem:     newAxis(mem*1.05, 0, memBottom, memTop),
		cpu:     newAxis(cpu*1.05, 0, cpuBottom, cpuTop),
	}
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// series is one line of the chart.
type series struct {
	label string
	color color.RGBA
	value func(Sample) float64
}

var (
	nodeMemory   = series{"node working set", colorNodeMemory, func(s Sample) float64 { return mib(s.NodeMemoryWorkingSetBytes) }}
	tenantMemory = series{"tenant working set (mean)", colorTenantMemory, func(s Sample) float64 { return mib(s.TenantMemoryMeanBytes) }}
	nodeCPU      = series{"node CPU", colorNodeCPU, func(s Sample) float64 { return s.NodeCPUMillicores }}
)

func render(r Result) (*image.RGBA, error) {
	if err := check(r); err != nil {
		return nil, err
	}
	samples := slices.Clone(r.Samples)
	slices.SortStableFunc(samples, func(a, b Sample) int { return a.Tenants - b.Tenants })
	l := newLayout(samples)

	img := image.NewRGBA(image.Rect(0, 0, width, height))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)

	text(img, 12, titleY, fmt.Sprintf("Tenant density: profile %s, %s", r.Profile, r.Date), color.Black)
	for i, line := range summary(r, samples) {
		text(img, 12, summaryY+16*i, line, colorAxis)
	}
	x := plotLeft
	for _, s := range []series{nodeMemory, tenantMemory, nodeCPU} {
		fill(img, image.Rect(x, legendY-5, x+20, legendY-3), s.color)
		marker(img, x+10, legendY-4, s.color)
		text(img, x+26, legendY, s.label, color.Black)
		x += 26 + charWidth*len(s.label) + 24
	}

	panel(img, l.tenants, l.mem, "memory working set (MiB)")
	panel(img, l.tenants, l.cpu, "node CPU (millicores)")
	for _, t := range l.tenants.ticks() {
		s := l.tenants.label(t)
		text(img, l.tenants.pos(t)-charWidth*len(s)/2, cpuBottom+16, s, color.Black)
	}
	const xLabel = "tenants Ready"
	text(img, (plotLeft+plotRight)/2-charWidth*len(xLabel)/2, xLabelY, xLabel, color.Black)

	plot(img, l.tenants, l.mem, samples, nodeMemory)
	plot(img, l.tenants, l.mem, samples, tenantMemory)
	plot(img, l.tenants, l.cpu, samples, nodeCPU)
	return img, nil
}

// summary is the lines under the title: why the installs stopped, and what the idle time measured.
func summary(r Result, samples []Sample) []string {
	var lines []string
	last := samples[len(samples)-1].Tenants
	if r.Stopped != "" {
		lines = append(lines, fmt.Sprintf("stopped at %d tenants: %s", last, r.Stopped))
	}
	if i := r.Idle; i != nil {
		lines = append(lines,
			fmt.Sprintf("idle %.0f s with %d tenants: tenant working set mean %.0f MiB, max %.0f MiB; node CPU mean %.0f m, max %.0f m",
				i.Seconds, last, mib(i.TenantMemoryMeanBytes), mib(i.TenantMemoryMaxBytes), i.NodeCPUMillicoresMean, i.NodeCPUMillicoresMax),
			fmt.Sprintf("/readyz: %d requests, %d failed, p50 %.1f ms, p99 %.1f ms; RSS: tenant mean %.0f MiB, bare processes %.0f MiB",
				i.ReadyzRequests, i.ReadyzFailures, i.ReadyzP50Seconds*1000, i.ReadyzP99Seconds*1000, mib(i.TenantRSSMeanBytes), mib(i.BareMemoryBytes)))
	}
	for n, line := range lines {
		if len(line) > maxChars {
			lines[n] = line[:maxChars-3] + "..."
		}
	}
	return lines
}

// panel draws the frame, grid and tick labels of one panel, and its unit above the vertical axis.
func panel(img *image.RGBA, xa, ya axis, unit string) {
	top, bottom := ya.to, ya.from
	for _, t := range xa.ticks() {
		vline(img, xa.pos(t), top, bottom, colorGrid)
	}
	for _, t := range ya.ticks() {
		y := ya.pos(t)
		hline(img, plotLeft, plotRight, y, colorGrid)
		hline(img, plotLeft-4, plotLeft, y, colorAxis)
		s := ya.label(t)
		text(img, plotLeft-7-charWidth*len(s), y+4, s, color.Black)
	}
	vline(img, plotLeft, top, bottom+1, colorAxis)
	vline(img, plotRight, top, bottom+1, colorAxis)
	hline(img, plotLeft, plotRight+1, top, colorAxis)
	hline(img, plotLeft, plotRight+1, bottom, colorAxis)
	text(img, plotLeft, top-8, unit, color.Black)
}

// plot draws one series as a line through a marker per sample.
func plot(img *image.RGBA, xa, ya axis, samples []Sample, s series) {
	for i := 1; i < len(samples); i++ {
		a, b := samples[i-1], samples[i]
		line(img, xa.pos(float64(a.Tenants)), ya.pos(s.value(a)), xa.pos(float64(b.Tenants)), ya.pos(s.value(b)), s.color)
	}
	for _, p := range samples {
		marker(img, xa.pos(float64(p.Tenants)), ya.pos(s.value(p)), s.color)
	}
}

func text(img *image.RGBA, x, y int, s string, c color.Color) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

func fill(img *image.RGBA, r image.Rectangle, c color.Color) {
	draw.Draw(img, r, image.NewUniform(c), image.Point{}, draw.Src)
}

// marker is a 5x5 square centred on (x, y).
func marker(img *image.RGBA, x, y int, c color.Color) {
	fill(img, image.Rect(x-2, y-2, x+3, y+3), c)
}

func vline(img *image.RGBA, x, y0, y1 int, c color.Color) {
	for y := y0; y < y1; y++ {
		img.Set(x, y, c)
	}
}

func hline(img *image.RGBA, x0, x1, y int, c color.Color) {
	for x := x0; x < x1; x++ {
		img.Set(x, y, c)
	}
}

// line is two pixels wide from (x0, y0) to (x1, y1) (Bresenham).
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.Color) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for {
		fill(img, image.Rect(x0, y0, x0+2, y0+2), c)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v < 0:
		return -1
	case v > 0:
		return 1
	}
	return 0
}
