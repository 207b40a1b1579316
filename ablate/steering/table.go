package steering

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/neuronscope/neuronscope/ablate"
	"github.com/neuronscope/neuronscope/model/report"
)

// summarise fills Table and Detection: per method × KL target, per-concept means (random
// directions averaged within a concept), then means over the concepts that reached the
// target, with bootstrap intervals over those concepts.
func (r *Result) summarise(opt Options) {
	idx := map[string]int{}
	for i, c := range r.Concepts {
		idx[c.Name] = i
	}
	type acc struct {
		c, nll, f, h float64
		n            int
	}
	// per concept: mean concept score, or NaN when the target was not reached
	perMethod := map[string][]float64{}
	per2 := func(per []acc) []float64 {
		out := make([]float64, len(per))
		for i, a := range per {
			out[i] = math.NaN()
			if a.n > 0 {
				out[i] = a.c / float64(a.n)
			}
		}
		return out
	}
	for _, meth := range r.Methods {
		for _, t := range r.Targets {
			per := make([]acc, len(r.Concepts))
			for _, run := range r.Runs {
				if run.Method != meth || run.TargetKL != t || !run.Reached {
					continue
				}
				a := &per[idx[run.Concept]]
				a.c += run.ConceptScore
				a.nll += run.NLL
				a.f += run.Fluency
				a.h += run.HarmonicMean
				a.n++
			}
			var cs, nl, fl, hm, lift []float64
			for i, a := range per {
				if a.n == 0 {
					continue
				}
				n := float64(a.n)
				cs, nl, fl, hm = append(cs, a.c/n), append(nl, a.nll/n), append(fl, a.f/n), append(hm, a.h/n)
				lift = append(lift, a.c/n-r.Unsteered[i])
			}
			cell := Cell{Method: meth, TargetKL: t, Concepts: len(cs)}
			if len(cs) > 0 {
				cell.ConceptScore, cell.NLL, cell.Fluency, cell.HarmonicMean, cell.Lift = mean(cs), mean(nl), mean(fl), mean(hm), mean(lift)
				cell.ConceptCI = bootMean(cs, opt.Bootstrap, opt.Seed)
				cell.HarmonicCI = bootMean(hm, opt.Bootstrap, opt.Seed)
			}
			perMethod[meth+"\x00"+fmt.Sprint(t)] = per2(per)
			r.Table = append(r.Table, cell)
		}
	}
	// Paired differences against the random directions, over the concepts both reached.
	for i := range r.Table {
		c := &r.Table[i]
		own, rnd := perMethod[c.Method+"\x00"+fmt.Sprint(c.TargetKL)], perMethod[MethodRandom+"\x00"+fmt.Sprint(c.TargetKL)]
		var diff []float64
		for k := range own {
			if !math.IsNaN(own[k]) && !math.IsNaN(rnd[k]) {
				diff = append(diff, own[k]-rnd[k])
			}
		}
		if c.Method != MethodRandom && len(diff) > 0 {
			c.VsRandom = mean(diff)
			c.VsRandomCI = bootMean(diff, opt.Bootstrap, opt.Seed)
		}
	}
	for _, meth := range r.Methods {
		var all, lang, rel []float64
		for _, c := range r.Concepts {
			for _, p := range c.Picks {
				if p.Method != meth {
					continue
				}
				all = append(all, p.TestAUC)
				if c.Kind == KindLanguage {
					lang = append(lang, p.TestAUC)
				} else {
					rel = append(rel, p.TestAUC)
				}
			}
		}
		if len(all) == 0 {
			continue
		}
		r.Detection = append(r.Detection, Detection{Method: meth, AUC: mean(all), CI: bootMean(all, opt.Bootstrap, opt.Seed),
			Language: mean(lang), Relation: mean(rel)})
	}
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// bootMean is the 95% percentile interval of the mean of xs over resamples (ablate.Bootstrap).
func bootMean(xs []float64, resamples int, seed uint64) [2]float64 {
	items := make([]int, len(xs))
	for i := range items {
		items[i] = i
	}
	boot := ablate.Bootstrap([][]int{items}, resamples, seed, func(s [][]int) float64 {
		var t float64
		for _, i := range s[0] {
			t += xs[i]
		}
		return t / float64(len(s[0]))
	})
	return ablate.CI95(boot)
}

// TableText renders the method × KL table and the detection summary.
func (r *Result) TableText() string {
	var b strings.Builder
	fmt.Fprintf(&b, "steering at %s (sign +1, α calibrated per direction to KL(base ‖ steered) at the calibration prompt's last token)\n", r.Point)
	fmt.Fprintf(&b, "unsteered: concept score %.3f (mean over concepts), NLL %.3f, fluency %.3f\n\n", mean(r.Unsteered), r.UnsteeredNLL, r.UnsteeredFluency)
	fmt.Fprintf(&b, "%-11s %6s %8s %17s %7s %17s %7s %8s %8s %13s\n", "method", "KL", "reached", "concept [95% CI]", "lift", "−random [95% CI]", "NLL", "fluency", "harmonic", "[95% CI]")
	for _, c := range r.Table {
		if c.Concepts == 0 {
			fmt.Fprintf(&b, "%-11s %6.3g %5d/%-2d %s\n", c.Method, c.TargetKL, 0, len(r.Concepts), "  (target never reached)")
			continue
		}
		vs := fmt.Sprintf("%+.3f [%+.2f,%+.2f]", c.VsRandom, c.VsRandomCI[0], c.VsRandomCI[1])
		if c.Method == MethodRandom {
			vs = ""
		}
		fmt.Fprintf(&b, "%-11s %6.3g %5d/%-2d %5.3f [%.2f,%.2f] %+7.3f %20s %7.3f %8.3f %8.3f [%.2f,%.2f]\n", c.Method, c.TargetKL, c.Concepts, len(r.Concepts),
			c.ConceptScore, c.ConceptCI[0], c.ConceptCI[1], c.Lift, vs, c.NLL, c.Fluency, c.HarmonicMean, c.HarmonicCI[0], c.HarmonicCI[1])
	}
	fmt.Fprintf(&b, "\nconcept detection (max over tokens of cos(activation, direction); ROC-AUC on the held-out half, mean over concepts):\n")
	fmt.Fprintf(&b, "%-11s %7s %15s %9s %9s\n", "method", "AUC", "[95% CI]", "language", "relation")
	for _, d := range r.Detection {
		fmt.Fprintf(&b, "%-11s %7.3f   [%.3f,%.3f] %9.3f %9.3f\n", d.Method, d.AUC, d.CI[0], d.CI[1], d.Language, d.Relation)
	}
	return b.String()
}

// ConceptText renders the per-concept picks and detection AUCs.
func (r *Result) ConceptText() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-30s", "concept")
	for _, m := range r.Methods {
		fmt.Fprintf(&b, " %17s", m)
	}
	fmt.Fprintf(&b, "\n")
	for _, c := range r.Concepts {
		fmt.Fprintf(&b, "%-30s", c.Name)
		for _, p := range c.Picks {
			id := "     "
			if p.Index >= 0 {
				id = fmt.Sprintf("#%-4d", p.Index)
			}
			fmt.Fprintf(&b, "  %s AUC %.3f", id, p.TestAUC)
		}
		fmt.Fprintf(&b, "\n")
	}
	return b.String()
}

var methodColors = map[string]color.Color{
	MethodSNMF:      color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	MethodSAE:       color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	MethodDiffMeans: color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	MethodRandom:    color.RGBA{R: 0x88, G: 0x88, B: 0x88, A: 0xff},
}

// WritePlot draws concept score, fluency and harmonic mean against the KL target, one line
// per method, side by side, in format "png" or "svg" (a 1200×400-point figure).
func (r *Result) WritePlot(w io.Writer, format string) error {
	if format != "png" && format != "svg" {
		return fmt.Errorf("steering: plot format %q (want png or svg)", format)
	}
	if len(r.Table) == 0 {
		return fmt.Errorf("steering: nothing to plot")
	}
	panels := []struct {
		title string
		val   func(Cell) float64
	}{
		{"concept score", func(c Cell) float64 { return c.ConceptScore }},
		{"fluency exp(−NLL)", func(c Cell) float64 { return c.Fluency }},
		{"harmonic mean", func(c Cell) float64 { return c.HarmonicMean }},
	}
	// The x range is set, not left to the data: one target alone would widen it below 0,
	// which a log scale cannot show.
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, c := range r.Table {
		if !(c.TargetKL > 0) {
			return fmt.Errorf("steering: KL target %g cannot be plotted on a log scale", c.TargetKL)
		}
		lo, hi = math.Min(lo, c.TargetKL), math.Max(hi, c.TargetKL)
	}
	plots := make([][]*plot.Plot, 1)
	for _, pn := range panels {
		p := plot.New()
		p.Title.Text = pn.title
		p.X.Label.Text = "KL target"
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
		p.Add(plotter.NewGrid())
		for _, meth := range r.Methods {
			var xy plotter.XYs
			for _, c := range r.Table {
				if c.Method == meth && c.Concepts > 0 {
					xy = append(xy, plotter.XY{X: c.TargetKL, Y: pn.val(c)})
				}
			}
			if len(xy) == 0 {
				continue
			}
			line, pts, err := plotter.NewLinePoints(xy)
			if err != nil {
				return err
			}
			line.Color, pts.Color = methodColors[meth], methodColors[meth]
			line.Width = vg.Points(1.5)
			pts.Shape = draw.CircleGlyph{}
			p.Add(line, pts)
			p.Legend.Add(meth, line, pts)
		}
		p.Legend.Top = true
		p.X.Min, p.X.Max = lo/1.5, hi*1.5
		p.Y.Min = 0
		p.Y.Max = math.Max(p.Y.Max*1.25, 0.1)
		plots[0] = append(plots[0], p)
	}
	cv, err := draw.NewFormattedCanvas(vg.Points(1200), vg.Points(400), format)
	if err != nil {
		return fmt.Errorf("steering: plot: %v", err)
	}
	tiles := draw.Tiles{Rows: 1, Cols: len(panels), PadX: vg.Points(24), PadY: vg.Points(12),
		PadTop: vg.Points(12), PadBottom: vg.Points(12), PadLeft: vg.Points(12), PadRight: vg.Points(12)}
	canvases := plot.Align(plots, tiles, draw.New(cv))
	for c, p := range plots[0] {
		p.Draw(canvases[0][c])
	}
	_, err = cv.WriteTo(w)
	return err
}

// SavePlot writes WritePlot's figure to path atomically, in the format its extension names
// (.png or .svg).
func (r *Result) SavePlot(path string) error {
	format := strings.TrimPrefix(strings.ToLower(filepath.Ext(path)), ".")
	if format != "png" && format != "svg" {
		return fmt.Errorf("%s: plot format %q (want .png or .svg)", path, format)
	}
	return report.WriteFile(path, func(w io.Writer) error { return r.WritePlot(w, format) })
}
