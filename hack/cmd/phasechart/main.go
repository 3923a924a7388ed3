// Command phasechart draws tenant timelines (`taowa status --timeline -o json`, or the files
// `make bench` writes with TAOWA_BENCH_OUT) as one PNG: a group of bars per timeline, one bar per
// span, on a shared axis of seconds since the revision started. docs/benchmarks.md shows its
// output for installs and upgrades, before and after.
//
//	go run ./hack/cmd/phasechart -o docs/install-phases.png before=old.json after=new.json
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"github.com/taowa/taowa/release/tenants"
)

// group is one timeline under its label.
type group struct {
	label    string
	timeline tenants.Timeline
}

const (
	rowHeight   = 16
	labelWidth  = 430
	plotWidth   = 560
	margin      = 12
	groupHeader = 22
	axisHeight  = 28
)

var (
	colorHook    = color.RGBA{0x4c, 0x72, 0xb0, 0xff}
	colorVolume  = color.RGBA{0x8c, 0x8c, 0x8c, 0xff}
	colorPod     = color.RGBA{0x55, 0xa8, 0x68, 0xff}
	colorRestart = color.RGBA{0xc4, 0x4e, 0x52, 0xff}
	colorGrid    = color.RGBA{0xe0, 0xe0, 0xe0, 0xff}
)

func main() {
	out := flag.String("o", "phases.png", "the PNG to write")
	title := flag.String("title", "Where the time goes", "the chart's title")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: phasechart [-o out.png] [-title T] LABEL=timeline.json ...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	var groups []group
	for _, arg := range flag.Args() {
		label, path, ok := strings.Cut(arg, "=")
		if !ok {
			fail(fmt.Errorf("argument %q: want LABEL=timeline.json", arg))
		}
		g, err := load(label, path)
		if err != nil {
			fail(err)
		}
		groups = append(groups, g)
	}
	if err := write(*out, render(*title, groups)); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "phasechart:", err)
	os.Exit(1)
}

func load(label, path string) (group, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return group{}, err
	}
	var t tenants.Timeline
	if err := json.Unmarshal(data, &t); err != nil {
		return group{}, fmt.Errorf("%s: %w", path, err)
	}
	if len(t.Spans) == 0 {
		return group{}, fmt.Errorf("%s: a timeline without spans", path)
	}
	return group{label: label, timeline: t}, nil
}

func render(title string, groups []group) *image.RGBA {
	longest := 0.0
	rows := 0
	for _, g := range groups {
		longest = math.Max(longest, g.timeline.End().Sub(g.timeline.Started).Seconds())
		rows += len(g.timeline.Spans)
	}
	step := tickStep(longest)
	axisEnd := math.Ceil(longest/step) * step
	height := margin*2 + groupHeader + len(groups)*groupHeader + rows*rowHeight + axisHeight
	img := image.NewRGBA(image.Rect(0, 0, margin*2+labelWidth+plotWidth, height))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	x := func(seconds float64) int { return margin + labelWidth + int(seconds/axisEnd*plotWidth) }

	text(img, margin, margin+12, title, color.Black)
	top := margin + groupHeader
	bottom := height - margin - axisHeight
	for s := 0.0; s <= axisEnd+1e-9; s += step {
		vline(img, x(s), top, bottom, colorGrid)
		text(img, x(s)-8, bottom+14, fmt.Sprintf("%gs", s), color.Black)
	}
	y := top
	for _, g := range groups {
		t := g.timeline
		total := t.End().Sub(t.Started).Seconds()
		text(img, margin, y+15, fmt.Sprintf("%s: %s/%s revision %d, %.1f s", g.label, t.Namespace, t.Name, t.Revision, total), color.Black)
		y += groupHeader
		for _, s := range t.Spans {
			from, to := s.Start.Sub(t.Started).Seconds(), s.End.Sub(t.Started).Seconds()
			c := colorPod
			switch {
			case s.Note != "" && strings.Contains(s.Note, "restarted"):
				c = colorRestart
			case strings.HasPrefix(s.What, "hook "):
				c = colorHook
			case strings.HasPrefix(s.What, "volume "):
				c = colorVolume
			}
			fill(img, image.Rect(x(from), y+3, max(x(to), x(from)+2), y+rowHeight-3), c)
			text(img, margin, y+12, fmt.Sprintf("%-52.52s %5.1fs", s.What, to-from), color.Black)
			y += rowHeight
		}
	}
	return img
}

// tickStep picks 1, 2, 5 or 10 s between grid lines, about ten lines over the axis.
func tickStep(longest float64) float64 {
	for _, s := range []float64{1, 2, 5, 10, 20, 30, 60} {
		if longest/s <= 12 {
			return s
		}
	}
	return 120
}

func text(img *image.RGBA, x, y int, s string, c color.Color) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

func fill(img *image.RGBA, r image.Rectangle, c color.Color) {
	draw.Draw(img, r, image.NewUniform(c), image.Point{}, draw.Src)
}

func vline(img *image.RGBA, x, y0, y1 int, c color.Color) {
	for y := y0; y < y1; y++ {
		img.Set(x, y, c)
	}
}

func write(path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
