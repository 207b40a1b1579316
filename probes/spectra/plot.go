package spectra

import (
	"fmt"
	"image/color"
	"io"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/neuronscope/neuronscope/model/report"
)

// Plot colours: pre-activation blue, post-activation orange, JS grey.
var (
	preColor  = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	postColor = color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}
	jsColor   = color.RGBA{R: 0x44, G: 0x44, B: 0x44, A: 0xff}
)

// WritePlot draws the four NerVE measures per layer in a 2×2 grid (spectral entropy,
// participation ratio and early-eigenvalue enrichment, each pre vs post; JS divergence
// between them) and writes it in format "png" or "svg" (a 1200×900-point figure).
func WritePlot(w io.Writer, layers []Layer, format string) error {
	if format != "png" && format != "svg" {
		return fmt.Errorf("spectra: plot format %q (want png or svg)", format)
	}
	if len(layers) == 0 {
		return fmt.Errorf("spectra: no layers to plot")
	}
	pick := func(f func(Layer) float64) plotter.XYs {
		xy := make(plotter.XYs, len(layers))
		for i, l := range layers {
			xy[i] = plotter.XY{X: float64(l.Layer), Y: f(l)}
		}
		return xy
	}
	type series struct {
		name string
		xy   plotter.XYs
		c    color.Color
	}
	panel := func(title, ylabel string, ss ...series) (*plot.Plot, error) {
		p := plot.New()
		p.Title.Text = title
		p.X.Label.Text = "layer"
		p.Y.Label.Text = ylabel
		p.Add(plotter.NewGrid())
		for _, s := range ss {
			line, pts, err := plotter.NewLinePoints(s.xy)
			if err != nil {
				return nil, err
			}
			line.Color, pts.Color = s.c, s.c
			line.Width = vg.Points(1.5)
			pts.Shape = draw.CircleGlyph{}
			p.Add(line, pts)
			p.Legend.Add(s.name, line, pts)
		}
		p.Legend.Top = true
		// Headroom for the legend above the data.
		span := p.Y.Max - p.Y.Min
		if span == 0 {
			span = max(1, abs(p.Y.Max))
		}
		p.Y.Max += 0.18 * span
		return p, nil
	}
	pre, post := func(f func(Side) float64) plotter.XYs {
		return pick(func(l Layer) float64 { return f(l.Pre) })
	}, func(f func(Side) float64) plotter.XYs {
		return pick(func(l Layer) float64 { return f(l.Post) })
	}
	se, pr, eee := func(s Side) float64 { return s.SE }, func(s Side) float64 { return s.PR }, func(s Side) float64 { return s.EEE }
	specs := []struct {
		title, y string
		ss       []series
	}{
		{"Spectral entropy", "SE (nats)", []series{{"pre", pre(se), preColor}, {"post", post(se), postColor}}},
		{"Participation ratio", "PR", []series{{"pre", pre(pr), preColor}, {"post", post(pr), postColor}}},
		{"Early-eigenvalue enrichment", "EEE", []series{{"pre", pre(eee), preColor}, {"post", post(eee), postColor}}},
		{"Jensen-Shannon divergence, pre vs post", "JS (nats)", []series{{"JS", pick(func(l Layer) float64 { return l.JS }), jsColor}}},
	}
	plots := [][]*plot.Plot{make([]*plot.Plot, 2), make([]*plot.Plot, 2)}
	for i, s := range specs {
		p, err := panel(s.title, s.y, s.ss...)
		if err != nil {
			return fmt.Errorf("spectra: plot: %v", err)
		}
		plots[i/2][i%2] = p
	}
	width, height := vg.Points(1200), vg.Points(900)
	cv, err := draw.NewFormattedCanvas(width, height, format)
	if err != nil {
		return fmt.Errorf("spectra: plot: %v", err)
	}
	dc := draw.New(cv)
	tiles := draw.Tiles{Rows: 2, Cols: 2, PadX: vg.Points(24), PadY: vg.Points(24),
		PadTop: vg.Points(12), PadBottom: vg.Points(12), PadLeft: vg.Points(12), PadRight: vg.Points(12)}
	canvases := plot.Align(plots, tiles, dc)
	for r := range plots {
		for c, p := range plots[r] {
			p.Draw(canvases[r][c])
		}
	}
	_, err = cv.WriteTo(w)
	return err
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// SavePlot writes WritePlot's figure to path atomically, in the format its extension names
// (.png or .svg).
func SavePlot(path string, layers []Layer) error {
	format := strings.TrimPrefix(strings.ToLower(filepath.Ext(path)), ".")
	if format != "png" && format != "svg" {
		return fmt.Errorf("spectra: %s: plot format from the extension must be .png or .svg", path)
	}
	return report.WriteFile(path, func(w io.Writer) error { return WritePlot(w, layers, format) })
}
