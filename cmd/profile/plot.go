package main

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/qnnkit/qnnkit/pkg/atomicfile"
	"github.com/qnnkit/qnnkit/pkg/calib"
)

// shortName abbreviates "model.layers.12.self_attn.q_proj" to "12.q" and
// "model.layers.3.mlp.down_proj" to "3.down".
func shortName(l string) string {
	s := strings.TrimPrefix(l, "model.layers.")
	for _, p := range []string{"self_attn.", "mlp."} {
		s = strings.Replace(s, p, "", 1)
	}
	return strings.TrimSuffix(s, "_proj")
}

// layerTicks labels every layer (or every n-th when there are many).
type layerTicks struct{ names []string }

func (t layerTicks) Ticks(lo, hi float64) []plot.Tick {
	step := max(1, len(t.names)/60)
	var out []plot.Tick
	for i, n := range t.names {
		tk := plot.Tick{Value: float64(i)}
		if i%step == 0 {
			tk.Label = shortName(n)
		}
		out = append(out, tk)
	}
	return out
}

// logTicks labels powers of ten (and 2·, 5· between them).
type logTicks struct{}

func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	var out []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, e)
			if v < lo || v > hi {
				continue
			}
			tk := plot.Tick{Value: v, Label: strings.TrimSuffix(calib.FormatFloat(v), ".0")}
			out = append(out, tk)
		}
	}
	return out
}

// writePlot draws per-layer ori and top_0_1 for inputs (top panel) and
// outputs (bottom panel) on a log scale, marking the directions that do
// NOT clip at threshold t (outliers: ori ≥ t·top_0_1, scale = top_0_1).
// Non-positive values cannot be shown on a log axis and are left out.
func writePlot(path string, sf *calib.ScaleFile, t *int, clipAll bool, title string) error {
	dec, err := sf.ClipDecisions(t, clipAll, nil, nil)
	if err != nil {
		return err
	}
	n := len(sf.Layers)
	width := vg.Length(math.Max(10, float64(n)*0.22)) * vg.Inch
	if width > 60*vg.Inch {
		width = 60 * vg.Inch
	}
	height := 13 * vg.Inch
	thr := "clip_all"
	if t != nil && !clipAll {
		thr = fmt.Sprintf("t01m_clip_threshold = %d", *t)
	}
	var plots [3]*plot.Plot
	for d := range 2 {
		p := plot.New()
		dir := calib.Direction(d)
		var nclip, nout int
		for _, c := range dec {
			if (d == 0 && c.ClipIn) || (d == 1 && c.ClipOut) {
				nclip++
			} else {
				nout++
			}
		}
		p.Title.Text = fmt.Sprintf("%s: Linear %ss — %d clip (scale = ori), %d have outliers (scale = top_0_1) at %s", title, dir, nclip, nout, thr)
		p.Title.TextStyle.Font.Size = vg.Points(13)
		p.Y.Label.Text = dir.String() + " value (log scale)"
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = logTicks{}
		p.X.Tick.Marker = layerTicks{sf.Layers}
		p.X.Tick.Label.Rotation = math.Pi / 2
		p.X.Tick.Label.XAlign = draw.XRight
		p.X.Tick.Label.YAlign = draw.YCenter
		p.X.Tick.Label.Font.Size = vg.Points(8)
		p.Add(plotter.NewGrid())
		p.Legend.Top = true
		p.Legend.Left = true

		var ori, top, outl, ratio plotter.XYs
		for i, l := range sf.Layers {
			o, tp := sf.Ori[l].Input, sf.Top01[l].Input
			clip := dec[i].ClipIn
			if d == 1 {
				o, tp, clip = sf.Ori[l].Output, sf.Top01[l].Output, dec[i].ClipOut
			}
			if o > 0 && !math.IsInf(o, 0) {
				ori = append(ori, plotter.XY{X: float64(i), Y: o})
				if !clip {
					outl = append(outl, plotter.XY{X: float64(i), Y: o})
				}
			}
			if tp > 0 && !math.IsInf(tp, 0) {
				top = append(top, plotter.XY{X: float64(i), Y: tp})
				if t != nil && !clipAll && *t > 0 { // log scale: t <= 0 has no line
					ratio = append(ratio, plotter.XY{X: float64(i), Y: tp * float64(*t)})
				}
			}
		}
		blue := color.RGBA{R: 31, G: 119, B: 180, A: 255}
		orange := color.RGBA{R: 255, G: 127, B: 14, A: 255}
		red := color.RGBA{R: 214, G: 39, B: 40, A: 255}
		grey := color.RGBA{R: 150, G: 150, B: 150, A: 255}
		addLine := func(xy plotter.XYs, c color.Color, shape draw.GlyphDrawer, name string, dashed bool) error {
			if len(xy) == 0 {
				return nil
			}
			lp, sp, err := plotter.NewLinePoints(xy)
			if err != nil {
				return err
			}
			lp.Color = c
			lp.Width = vg.Points(1.2)
			if dashed {
				lp.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
				lp.Width = vg.Points(1)
			}
			sp.Color = c
			sp.Shape = shape
			sp.Radius = vg.Points(2.5)
			p.Add(lp, sp)
			p.Legend.Add(name, lp, sp)
			return nil
		}
		if err := addLine(ori, blue, draw.CircleGlyph{}, "ori (max)", false); err != nil {
			return err
		}
		if err := addLine(top, orange, draw.TriangleGlyph{}, "top_0_1 (99.9th percentile)", false); err != nil {
			return err
		}
		if len(ratio) > 0 {
			if err := addLine(ratio, grey, draw.BoxGlyph{}, fmt.Sprintf("%d × top_0_1 (ori above this → outliers, no clip)", *t), true); err != nil {
				return err
			}
		}
		if len(outl) > 0 {
			sc, err := plotter.NewScatter(outl)
			if err != nil {
				return err
			}
			sc.Color = red
			sc.Shape = draw.CrossGlyph{}
			sc.Radius = vg.Points(6)
			p.Add(sc)
			p.Legend.Add("outliers: no clip, scale = top_0_1", sc)
		}
		p.X.Min, p.X.Max = -0.5, float64(n)-0.5
		headroom(p)
		plots[d] = p
	}
	rp, err := ratioPlot(sf, t, clipAll, title)
	if err != nil {
		return err
	}
	plots[2] = rp
	img := vgimgOrSVG(path, width, height)
	if img == nil {
		return fmt.Errorf("plot %s: unknown extension %q (want .png or .svg)", path, filepath.Ext(path))
	}
	return img.draw(path, plots)
}

// imgOut is a PNG or SVG canvas.
type imgOut struct {
	canvas vg.CanvasWriterTo
}

func vgimgOrSVG(path string, w, h vg.Length) *imgOut {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".png":
		return &imgOut{vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(96), vgimg.UseBackgroundColor(color.White))}}
	case ".svg":
		return &imgOut{vgsvg.New(w, h)}
	}
	return nil
}

// draw stacks the plots vertically and writes the image atomically.
func (o *imgOut) draw(path string, plots [3]*plot.Plot) error {
	dc := draw.New(o.canvas)
	tiles := draw.Tiles{Rows: 3, Cols: 1, PadTop: vg.Points(8), PadBottom: vg.Points(8), PadLeft: vg.Points(8), PadRight: vg.Points(12), PadY: vg.Points(14)}
	cs := plot.Align([][]*plot.Plot{{plots[0]}, {plots[1]}, {plots[2]}}, tiles, dc)
	for i, p := range plots {
		p.Draw(cs[i][0])
	}
	f, err := atomicfile.Create(path)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := o.canvas.WriteTo(f); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Commit()
}

// headroom raises the y range so the legend (top left) does not cover data.
func headroom(p *plot.Plot) {
	if p.Y.Max > p.Y.Min && p.Y.Min > 0 {
		p.Y.Max = p.Y.Max * math.Pow(p.Y.Max/p.Y.Min, 0.45)
	}
}

// ratioPlot draws ori/top_0_1 per layer for both directions with the
// threshold line: a direction clips exactly when its ratio is below t.
func ratioPlot(sf *calib.ScaleFile, t *int, clipAll bool, title string) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title + ": ori / top_0_1 — a direction clips (scale = ori) when this is below the threshold"
	p.Title.TextStyle.Font.Size = vg.Points(13)
	p.Y.Label.Text = "ori / top_0_1 (log scale)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = logTicks{}
	p.X.Tick.Marker = layerTicks{sf.Layers}
	p.X.Tick.Label.Rotation = math.Pi / 2
	p.X.Tick.Label.XAlign = draw.XRight
	p.X.Tick.Label.YAlign = draw.YCenter
	p.X.Tick.Label.Font.Size = vg.Points(8)
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.Legend.Left = true
	colors := []color.Color{color.RGBA{R: 44, G: 160, B: 44, A: 255}, color.RGBA{R: 148, G: 103, B: 189, A: 255}}
	shapes := []draw.GlyphDrawer{draw.CircleGlyph{}, draw.TriangleGlyph{}}
	lo, hi := math.Inf(1), math.Inf(-1)
	for d := range 2 {
		var xy plotter.XYs
		for i, l := range sf.Layers {
			o, tp := sf.Ori[l].Input, sf.Top01[l].Input
			if d == 1 {
				o, tp = sf.Ori[l].Output, sf.Top01[l].Output
			}
			r := o / tp
			if tp > 0 && r > 0 && !math.IsInf(r, 0) && !math.IsNaN(r) {
				xy = append(xy, plotter.XY{X: float64(i), Y: r})
				lo, hi = math.Min(lo, r), math.Max(hi, r)
			}
		}
		if len(xy) == 0 {
			continue
		}
		lp, sp, err := plotter.NewLinePoints(xy)
		if err != nil {
			return nil, err
		}
		lp.Color, sp.Color, sp.Shape = colors[d], colors[d], shapes[d]
		lp.Width, sp.Radius = vg.Points(1.2), vg.Points(2.5)
		p.Add(lp, sp)
		p.Legend.Add(calib.Direction(d).String()+"s", lp, sp)
	}
	if t != nil && !clipAll && *t > 0 {
		tv := float64(*t)
		line, err := plotter.NewLine(plotter.XYs{{X: -0.5, Y: tv}, {X: float64(len(sf.Layers)) - 0.5, Y: tv}})
		if err != nil {
			return nil, err
		}
		line.Color = color.RGBA{R: 214, G: 39, B: 40, A: 255}
		line.Width = vg.Points(1.5)
		line.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
		p.Add(line)
		p.Legend.Add(fmt.Sprintf("t01m_clip_threshold = %d", *t), line)
		lo, hi = math.Min(lo, tv), math.Max(hi, tv)
	}
	if lo <= hi {
		p.Y.Min, p.Y.Max = lo/1.5, hi*1.5
	}
	p.X.Min, p.X.Max = -0.5, float64(len(sf.Layers))-0.5
	headroom(p)
	return p, nil
}
