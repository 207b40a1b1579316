package profile

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/probes/labels"
)

// ByNeuron indexes the report's neurons by their hooks.Neuron (the hook parsed from Hook).
func (rep *Report) ByNeuron() map[hooks.Neuron]*NeuronReport {
	out := map[hooks.Neuron]*NeuronReport{}
	for pi := range rep.Points {
		for ni := range rep.Points[pi].Neurons {
			nr := &rep.Points[pi].Neurons[ni]
			if p, err := hooks.Parse(nr.Hook); err == nil {
				out[hooks.Neuron{Point: p, Index: nr.Index}] = nr
			}
		}
	}
	return out
}

// AttachLabels sets every neuron's Labels and Verdicts from a label file (labels.File.ForNeuron),
// replacing any it had. It returns how many neurons got at least one label.
func AttachLabels(rep *Report, lf *labels.File) int {
	n := 0
	for neuron, nr := range rep.ByNeuron() {
		nr.Labels, nr.Verdicts = lf.ForNeuron(neuron)
		if len(nr.Labels) > 0 {
			n++
		}
	}
	return n
}

// WriteLabelsHTML writes a self-contained page of a label file alone (no profile): the label
// table, every matrix as a heatmap and every sweep as a line plot with the random band.
func WriteLabelsHTML(w io.Writer, lf *labels.File, title string) error {
	if title == "" {
		title = "neuronscope labels"
	}
	sec, err := labelsSection(lf)
	if err != nil {
		return err
	}
	return labelsPageTmpl.Execute(w, struct {
		Title, CSP string
		Section    template.HTML
	}{title, CSP, sec})
}

// labelsSection renders the labels part of a page.
func labelsSection(lf *labels.File) (template.HTML, error) {
	var b bytes.Buffer
	data := struct {
		F        *labels.File
		Matrices []template.HTML
		Sweeps   []template.HTML
	}{F: lf}
	for i := range lf.Matrices {
		data.Matrices = append(data.Matrices, matrixSVG(i, &lf.Matrices[i]))
	}
	for i := range lf.Sweeps {
		data.Sweeps = append(data.Sweeps, sweepSVG(i, &lf.Sweeps[i]))
	}
	if err := labelsSectionTmpl.Execute(&b, data); err != nil {
		return "", err
	}
	return template.HTML(b.String()), nil
}

// esc escapes text for SVG/HTML.
func esc(s string) string { return template.HTMLEscapeString(s) }

// matrixSVG draws a matrix as a heatmap: one cell per set (row) and group (column), red for
// effects that hurt the group, blue for ones that help it, white for none, scaled by the
// largest |effect|; the set's own group is outlined, and every cell's title gives its numbers.
func matrixSVG(idx int, m *labels.Matrix) template.HTML {
	const cell, left, top = 30.0, 170.0, 120.0
	W := left + cell*float64(len(m.Groups)) + 110
	H := top + cell*float64(len(m.Sets)) + 44
	hurt := func(e float64) float64 { // > 0 when the measure got worse
		if m.Measure == "perplexity" {
			return e - 1
		}
		if m.Measure == "answer_prob" || m.Measure == "answer_logprob" {
			return -e
		}
		return e
	}
	var peak float64
	for _, row := range m.Cells {
		for _, c := range row {
			peak = math.Max(peak, math.Abs(hurt(c.Effect)))
		}
	}
	if peak == 0 {
		peak = 1
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg id="matrix-%d" class="matrix" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" role="img" aria-label="%s">`, idx, W, H, W, H, esc(m.Name))
	for j, g := range m.Groups {
		x := left + cell*float64(j) + cell/2
		fmt.Fprintf(&b, `<text class="col" x="%.1f" y="%.1f" transform="rotate(-50 %.1f %.1f)" font-size="11">%s</text>`, x, top-6, x, top-6, esc(g))
	}
	for i, s := range m.Sets {
		y := top + cell*float64(i)
		fmt.Fprintf(&b, `<text class="row" x="%.1f" y="%.1f" text-anchor="end" font-size="11">%s</text>`, left-6, y+cell/2+4, esc(s))
		for j, c := range m.Cells[i] {
			h := hurt(c.Effect) / peak
			var fill string
			switch {
			case h > 0:
				fill = fmt.Sprintf("rgba(210,40,40,%.3f)", math.Min(1, h))
			case h < 0:
				fill = fmt.Sprintf("rgba(40,90,220,%.3f)", math.Min(1, -h))
			default:
				fill = "#fff"
			}
			stroke, sw := "#ddd", 1.0
			own := m.Groups[j] == s
			if own {
				stroke, sw = "#000", 2.5
			}
			x := left + cell*float64(j)
			fmt.Fprintf(&b, `<rect class="cell" data-set="%s" data-group="%s" data-effect="%g" data-own="%t" x="%.1f" y="%.1f" width="%.0f" height="%.0f" fill="%s" stroke="%s" stroke-width="%.1f"><title>%s on %s: %s %s (value %.4g; random %.4g ± %.2g over %d sets; p %.3g)</title></rect>`,
				esc(s), esc(m.Groups[j]), c.Effect, own, x, y, cell, cell, fill, stroke, sw, esc(s), esc(m.Groups[j]), esc(m.Effect),
				fmtEffect(m.Measure, c.Effect), c.Value, c.Random.Mean, c.Random.Std, c.Random.N, c.P)
		}
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" fill="#555">red: the group got worse, blue: better (full colour: %s)</text>`,
		10.0, H-22, fmtEffect(m.Measure, peakEffect(m.Measure, peak)))
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" fill="#555">outlined: the set's own group</text>`, 10.0, H-8)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func peakEffect(measure string, peak float64) float64 {
	if measure == "perplexity" {
		return 1 + peak
	}
	return peak
}

func fmtEffect(measure string, e float64) string {
	if measure == "perplexity" {
		return fmt.Sprintf("×%.3f", e)
	}
	return labels.Signed(measure, e)
}

// sweepSVG draws a cumulativity sweep: the effect on the claimed group and the mean effect on
// the others against k (log scale), with the random sets' target effect as a band (mean ± 2
// std, and the range).
func sweepSVG(idx int, s *labels.Sweep) template.HTML {
	const W, H, L, R, T, B = 520.0, 260.0, 60.0, 130.0, 20.0, 40.0
	if len(s.Points) == 0 {
		return ""
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, p := range s.Points {
		for _, v := range []float64{p.Target, p.Others, p.Random.Mean - 2*p.Random.Std, p.Random.Mean + 2*p.Random.Std, p.Random.Min, p.Random.Max} {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	if hi == lo {
		hi, lo = hi+0.5, lo-0.5
	}
	pad := (hi - lo) * 0.05
	lo, hi = lo-pad, hi+pad
	kmin, kmax := math.Log10(float64(s.Points[0].K)), math.Log10(float64(s.Points[len(s.Points)-1].K))
	if kmax == kmin {
		kmin, kmax = kmin-0.5, kmax+0.5
	}
	px := func(k int) float64 { return L + (W-L-R)*(math.Log10(float64(k))-kmin)/(kmax-kmin) }
	py := func(v float64) float64 { return T + (H-T-B)*(hi-v)/(hi-lo) }
	line := func(f func(labels.SweepPoint) float64) string {
		var pts []string
		for _, p := range s.Points {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(p.K), py(f(p))))
		}
		return strings.Join(pts, " ")
	}
	band := func(up, down func(labels.SweepPoint) float64) string {
		var pts []string
		for _, p := range s.Points {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(p.K), py(up(p))))
		}
		for i := len(s.Points) - 1; i >= 0; i-- {
			p := s.Points[i]
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(p.K), py(down(p))))
		}
		return strings.Join(pts, " ")
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg id="sweep-%d" class="sweep" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" role="img" aria-label="cumulativity of %s">`, idx, W, H, W, H, esc(s.Set))
	fmt.Fprintf(&b, `<polygon class="range" points="%s" fill="#eee"/>`, band(func(p labels.SweepPoint) float64 { return p.Random.Max }, func(p labels.SweepPoint) float64 { return p.Random.Min }))
	fmt.Fprintf(&b, `<polygon class="band" points="%s" fill="#ccc"/>`, band(func(p labels.SweepPoint) float64 { return p.Random.Mean + 2*p.Random.Std }, func(p labels.SweepPoint) float64 { return p.Random.Mean - 2*p.Random.Std }))
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#888"/>`, L, py(0), W-R, py(0))
	fmt.Fprintf(&b, `<polyline class="others" points="%s" fill="none" stroke="#2a5" stroke-width="1.5" stroke-dasharray="4 3"/>`, line(func(p labels.SweepPoint) float64 { return p.Others }))
	fmt.Fprintf(&b, `<polyline class="claimed" points="%s" fill="none" stroke="#c22" stroke-width="2"/>`, line(func(p labels.SweepPoint) float64 { return p.Target }))
	for _, p := range s.Points {
		fmt.Fprintf(&b, `<circle class="pt" data-k="%d" data-effect="%g" cx="%.1f" cy="%.1f" r="3" fill="#c22"><title>k = %d: %s on %s, others %s, random %s ± %s, p %.3g</title></circle>`,
			p.K, p.Target, px(p.K), py(p.Target), p.K, fmtEffect(s.Measure, p.Target), esc(s.Target), fmtEffect(s.Measure, p.Others),
			fmtEffect(s.Measure, p.Random.Mean), fmtEffect(s.Measure, p.Random.Std), p.P)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="10">%d</text>`, px(p.K), H-B+14, p.K)
	}
	for _, v := range []float64{lo + pad, (lo + hi) / 2, hi - pad} {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end" font-size="10">%s</text>`, L-4, py(v)+3, fmtEffect(s.Measure, v))
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="11">k (top neurons of %s)</text>`, (L+W-R)/2, H-4, esc(s.Set))
	lx := W - R + 10
	fmt.Fprintf(&b, `<line x1="%.1f" y1="30" x2="%.1f" y2="30" stroke="#c22" stroke-width="2"/><text x="%.1f" y="34" font-size="11">%s</text>`, lx, lx+18, lx+22, esc(s.Target))
	fmt.Fprintf(&b, `<line x1="%.1f" y1="50" x2="%.1f" y2="50" stroke="#2a5" stroke-dasharray="4 3"/><text x="%.1f" y="54" font-size="11">others</text>`, lx, lx+18, lx+22)
	fmt.Fprintf(&b, `<rect x="%.1f" y="64" width="18" height="10" fill="#ccc"/><text x="%.1f" y="73" font-size="11">random ±2 sd</text>`, lx, lx+22)
	fmt.Fprintf(&b, `<rect x="%.1f" y="82" width="18" height="10" fill="#eee"/><text x="%.1f" y="91" font-size="11">random range</text>`, lx, lx+22)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

const labelsCSS = `.labels table td{text-align:left}.labels .v-confirmed{color:#161;font-weight:bold}.labels .v-not_selective,.labels .v-no_effect{color:#933}.labels .v-inconclusive{color:#a60}
.labels svg text{font-family:system-ui,sans-serif}.labels .plots{display:flex;flex-wrap:wrap;gap:1em}`

var labelsSectionTmpl = template.Must(template.New("labels").Funcs(template.FuncMap{
	"pct":    func(x float64) string { return fmt.Sprintf("%+.1f%%", 100*x) },
	"g":      func(x float64) string { return fmt.Sprintf("%.3g", x) },
	"signed": labels.Signed,
	"first": func(vs []labels.Verification) *labels.Verification {
		if len(vs) == 0 {
			return nil
		}
		return &vs[0]
	},
}).Parse(`<section class="labels" id="labels">
<style>` + labelsCSS + `</style>
<h2>Labels and verification</h2>
<p class="prov">{{.F.SchemaVersion}} · {{.F.Provenance.ModelDir}} ({{.F.Provenance.ModelType}}) · {{range .F.Inputs}}{{.Role}} {{.Path}} (sha256 {{printf "%.12s" .SHA256}}…) · {{end}}</p>
<table id="label-table"><thead><tr><th class="l">set</th><th class="l">claim</th><th class="l">verdict</th><th>units</th><th>target</th><th>effect</th><th>random</th><th>p</th><th>95% CI</th></tr></thead><tbody>
{{range .F.Labels}}<tr data-set="{{.Set}}" data-verdict="{{.Verdict}}"><td class="l">{{.Set}}</td><td class="l">{{.Claim.Description}}</td><td class="l v-{{.Verdict}}">{{if .Verdict}}{{.Verdict}}{{else}}—{{end}}</td><td>{{len .Units}}</td>{{with first .Verifications}}<td>{{signed .Measure .Target}}</td><td>{{signed .Measure .Effect}}</td><td>{{signed .Measure .Random.Mean}} ± {{signed .Measure .Random.Std}}</td><td>{{g .P}}</td><td>[{{signed .Measure (index .CI95 0)}}, {{signed .Measure (index .CI95 1)}}]</td>{{else}}<td></td><td></td><td></td><td></td><td></td>{{end}}</tr>
{{end}}</tbody></table>
{{range $i, $m := .F.Matrices}}<h3>{{$m.Name}}</h3><p>{{$m.Intervention}}; {{$m.Effect}}; {{$m.RandomSets}} random sets per row.{{if $m.Interference}} Interference: {{range $m.Interference}}{{.Set}} on {{.Group}} ({{g .Before}} → {{g .After}}{{if .BeyondRandom}}, beyond every random set{{end}}); {{end}}{{else}} No set improved another group.{{end}}</p>{{index $.Matrices $i}}
{{end}}{{if .Sweeps}}<h3>Cumulativity</h3><div class="plots">{{range .Sweeps}}{{.}}{{end}}</div>{{end}}
{{range .F.Patching}}<h3>Activation patching ({{.Direction}}, {{.Pairs}} pairs, positions {{.Positions}})</h3><p>{{.Metric}}: clean {{g .Clean}}, corrupt {{g .Corrupt}}</p><table class="patch"><tr><th class="l">site</th><th>metric</th><th>recovered</th><th>95% CI</th></tr>{{range .Sites}}<tr><td class="l">{{.Site}}</td><td>{{g .Metric}}</td><td>{{pct .Recovered}}</td><td>[{{pct (index .CI95 0)}}, {{pct (index .CI95 1)}}]</td></tr>{{end}}</table>{{end}}
{{range .F.Steering}}<h3>Steering {{if .Set}}{{.Set}}{{else}}{{.Direction}}{{end}} at “{{.BasePrompt}}”</h3><table class="steer"><tr><th>target KL</th><th>sign</th><th>α</th><th>KL</th><th class="l">reached</th></tr>{{range .Targets}}<tr><td>{{.TargetKL}}</td><td>{{.Sign}}</td><td>{{g .Alpha}}</td><td>{{g .KL}}</td><td class="l">{{if .Reached}}yes{{else}}no: {{.Why}}{{end}}</td></tr>{{end}}</table>{{end}}
</section>`))

var labelsPageTmpl = template.Must(template.New("lpage").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{{.CSP}}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:0 1.5em 3em;color:#222;background:#fff}
h1{font-size:1.4em}h2{font-size:1.15em;margin:1.6em 0 .3em;border-top:2px solid #ccc;padding-top:.6em}h3{font-size:1em;margin:.9em 0 .2em}
table{border-collapse:collapse}td,th{padding:2px 8px;text-align:right;border-bottom:1px solid #eee}td.l,th.l{text-align:left}.prov{color:#666;font-size:12px}
</style></head>
<body>
<h1>{{.Title}}</h1>
{{.Section}}
<script>document.body.setAttribute("data-ready","1");</script>
</body></html>`))
