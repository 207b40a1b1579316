package profile

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strings"

	"github.com/neuronscope/neuronscope/probes/labels"
)

// HTMLOptions limit what the dashboard shows.
type HTMLOptions struct {
	// MaxNeurons details only the neurons with the largest maximum activation (ties to the
	// earlier neuron); the index lists every neuron. 0 details all.
	MaxNeurons int
	// Title of the page (default "neuronscope profile").
	Title string
	// Labels, when set, are shown: every labelled neuron's labels and verdicts (AttachLabels,
	// which changes rep), and a section with the label table, each matrix as a heatmap and each
	// sweep as a line plot with the random band.
	Labels *labels.File
}

// CSP is the Content-Security-Policy of the dashboard: nothing may be fetched; inline styles,
// the inline script and data: images only.
const CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"

type htmlToken struct {
	Text  string
	Title string
	Style template.CSS
	Max   bool
}

type htmlExample struct {
	ID     string
	Tokens []htmlToken
	Value  float32
	Doc    int64
	Pos    int
}

type htmlBin struct {
	Min, Max float32
	Contains int64
	Examples []htmlExample
}

type htmlBar struct {
	X, Y, W, H float64
	Title      string
}

type htmlNeuron struct {
	Key string
	NeuronReport
	Bars             []htmlBar
	HistLo, HistHi   string
	Max, Min, Random []htmlExample
	Bins             []htmlBin
}

type htmlIndexRow struct {
	NeuronReport
	Key      string
	Detailed bool
}

type htmlPage struct {
	Title, CSP string
	Labels     template.HTML
	Rep        *Report
	Index      []htmlIndexRow
	Neurons    []htmlNeuron
	Shown      int
	Total      int
	TokenCSS   template.CSS
}

// shade is the background of a token with activation v: orange for positive values scaled by
// the neuron's maximum, blue for negative ones scaled by its minimum.
func shade(v float32, hi, lo float32) template.CSS {
	var a float64
	if v > 0 && hi > 0 {
		a = float64(v / hi)
		return template.CSS(fmt.Sprintf("background:rgba(255,140,0,%.3f)", math.Min(1, a)))
	}
	if v < 0 && lo < 0 {
		a = float64(v / lo)
		return template.CSS(fmt.Sprintf("background:rgba(30,110,255,%.3f)", math.Min(1, a)))
	}
	return ""
}

// TokenBoundaryCSS is the style of every token of an example: a thin rule on each side and a
// little padding, so that token boundaries show whatever the tokenizer (WordLevel tokens carry
// no spaces, "zhiyi" "Dupel" "hal" would otherwise read "zhiyiDupelhal"; byte-level BPE pieces
// of one word would run together).
const TokenBoundaryCSS = "box-shadow:inset 1px 0 0 #9a9a9a,inset -1px 0 0 #9a9a9a;padding:0 2px;margin:0 1px"

// displayToken makes whitespace visible, and an empty token (a piece that decodes to
// nothing, such as part of a multi-byte character) a visible ∅.
func displayToken(s string) string {
	if s == "" {
		return "∅"
	}
	s = strings.ReplaceAll(s, "\n", "↵")
	s = strings.ReplaceAll(s, "\t", "⇥")
	return s
}

func htmlExamples(key, kind string, ex []Example, hi, lo float32) []htmlExample {
	out := make([]htmlExample, len(ex))
	for i, e := range ex {
		he := htmlExample{ID: fmt.Sprintf("ex-%s-%s-%d", key, kind, i), Value: e.Value, Doc: e.Doc, Pos: e.Pos}
		for k, t := range e.Tokens {
			he.Tokens = append(he.Tokens, htmlToken{Text: displayToken(t), Title: fmt.Sprintf("%q: %.4g", t, e.Acts[k]),
				Style: shade(e.Acts[k], hi, lo), Max: k == e.MaxIndex})
		}
		out[i] = he
	}
	return out
}

func histBars(h Histogram) []htmlBar {
	var peak int64
	for _, c := range h.Counts {
		peak = max(peak, c)
	}
	if peak == 0 {
		return nil
	}
	const W, H = 400.0, 80.0
	w := W / float64(len(h.Counts))
	var out []htmlBar
	for i, c := range h.Counts {
		// log scale, so rare large activations stay visible
		bh := H * math.Log1p(float64(c)) / math.Log1p(float64(peak))
		lo := h.Start + float64(i)*h.Width
		out = append(out, htmlBar{X: float64(i) * w, Y: H - bh, W: math.Max(w-0.5, 0.5), H: bh,
			Title: fmt.Sprintf("[%.4g, %.4g): %d", lo, lo+h.Width, c)})
	}
	return out
}

// WriteHTML writes the dashboard of rep: one self-contained page (inline CSS, inline script,
// inline SVG; no request leaves the page, enforced by a CSP meta tag) with a sortable neuron
// index and, per neuron, the activation histogram, top max/min examples with tokens shaded by
// activation, quantile samples, LM-head and DLA tokens side by side, labels and verdicts.
func WriteHTML(w io.Writer, rep *Report, opt HTMLOptions) error {
	var labelsHTML template.HTML
	if opt.Labels != nil {
		AttachLabels(rep, opt.Labels)
		var err error
		if labelsHTML, err = labelsSection(opt.Labels); err != nil {
			return err
		}
	}
	var all []NeuronReport
	for _, pt := range rep.Points {
		all = append(all, pt.Neurons...)
	}
	idx := make([]int, len(all))
	for i := range idx {
		idx[i] = i
	}
	if opt.MaxNeurons > 0 && len(all) > opt.MaxNeurons {
		sort.SliceStable(idx, func(a, b int) bool { return detailBefore(all[idx[a]].Max, idx[a], all[idx[b]].Max, idx[b]) })
		idx = idx[:opt.MaxNeurons]
		sort.Ints(idx)
	}
	detailed := make([]bool, len(all))
	sel := make([]NeuronReport, len(idx))
	for k, i := range idx {
		detailed[i] = true
		sel[k] = all[i]
	}
	page := htmlPage{Title: opt.Title, CSP: CSP, Rep: rep, Shown: len(sel), Total: len(all), TokenCSS: TokenBoundaryCSS, Labels: labelsHTML}
	for i, nr := range all {
		page.Index = append(page.Index, htmlIndexRow{NeuronReport: nr, Key: NeuronKey(nr), Detailed: detailed[i]})
	}
	if page.Title == "" {
		page.Title = "neuronscope profile"
	}
	for _, nr := range sel {
		key := NeuronKey(nr)
		hn := htmlNeuron{Key: key, NeuronReport: nr, Bars: histBars(nr.Histogram),
			Max:    htmlExamples(key, "max", nr.TopMax, nr.Max, nr.Min),
			Min:    htmlExamples(key, "min", nr.TopMin, nr.Max, nr.Min),
			Random: htmlExamples(key, "rand", nr.RandomSample, nr.Max, nr.Min)}
		if n := len(nr.Histogram.Counts); n > 0 {
			hn.HistLo = fmt.Sprintf("%.3g", nr.Histogram.Start)
			hn.HistHi = fmt.Sprintf("%.3g", nr.Histogram.Start+float64(n)*nr.Histogram.Width)
		}
		for q, b := range nr.QuantileSamples {
			hn.Bins = append(hn.Bins, htmlBin{Min: b.Min, Max: b.Max, Contains: b.Contains,
				Examples: htmlExamples(key, fmt.Sprintf("q%d", q), b.Examples, nr.Max, nr.Min)})
		}
		page.Neurons = append(page.Neurons, hn)
	}
	return pageTmpl.Execute(w, page)
}

// UnitWord is what a unit of hook is called on a dashboard page: "feature" for SNMF features
// (….snmf), "latent" for SAE latents (….sae.hook_sae_acts_post), else "neuron".
func UnitWord(hook string) string {
	switch {
	case strings.HasSuffix(hook, ".snmf"):
		return "feature"
	case strings.HasSuffix(hook, ".hook_sae_acts_post"):
		return "latent"
	}
	return "neuron"
}

// NeuronKey names a neuron in the dashboard's element ids: "L-I" for mlp.hook_post, else
// "HOOK-I" with dots replaced by underscores.
func NeuronKey(nr NeuronReport) string {
	if strings.HasSuffix(nr.Hook, ".mlp.hook_post") {
		return fmt.Sprintf("%d-%d", nr.Layer, nr.Index)
	}
	return strings.ReplaceAll(nr.Hook, ".", "_") + "-" + itoa(nr.Index)
}

var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"unit": UnitWord,
	"f": func(x any) string {
		switch v := x.(type) {
		case float32:
			return fmt.Sprintf("%.4g", v)
		case float64:
			return fmt.Sprintf("%.4g", v)
		}
		return fmt.Sprint(x)
	},
	"pct": func(x float64) string { return fmt.Sprintf("%.2f%%", 100*x) },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{{.CSP}}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:0 1.5em 3em;color:#222;background:#fff}
h1{font-size:1.4em}h2{font-size:1.15em;margin:1.6em 0 .3em;border-top:2px solid #ccc;padding-top:.6em}
h3{font-size:1em;margin:.9em 0 .2em}
table{border-collapse:collapse}td,th{padding:2px 8px;text-align:right;border-bottom:1px solid #eee}
th{cursor:pointer;background:#f4f4f4;user-select:none}th.sorted-asc::after{content:" ▲"}th.sorted-desc::after{content:" ▼"}
td.l,th.l{text-align:left}
.ex{font:13px/1.9 ui-monospace,monospace;white-space:pre-wrap;margin:2px 0}
.ex .meta{color:#888;font-size:11px;margin-right:.6em}
.tok{border-radius:2px;white-space:pre;{{.TokenCSS}}}.tok.max{outline:1.5px solid #c00}
.stats td{text-align:left}.lm span{display:inline-block;margin:1px 4px;padding:0 3px;background:#eef;font-family:monospace;white-space:pre}
.lm .neg{background:#fee}.prov{color:#666;font-size:12px}
svg .bar{fill:#4a7fc1}svg .bar:hover{fill:#c14a4a}
.label{background:#ffd;padding:2px 6px;border-radius:3px}.verdict{font-weight:bold}
#index{max-height:50vh;overflow:auto;display:block}
.logits{display:flex;flex-wrap:wrap;gap:0 2em}.logits>div{flex:1 1 28em}
</style></head>
<body>
<h1>{{.Title}}</h1>
<p class="prov">{{.Rep.Provenance.ModelDir}} ({{.Rep.Provenance.ModelType}}) · {{.Rep.Tokens}} tokens in {{.Rep.Contexts}} contexts of ≤ {{.Rep.Settings.Ctx}} from {{.Rep.Settings.Data}} · BOS {{.Rep.Settings.BOSPolicy}}, {{if .Rep.Settings.Options.IncludeBOS}}BOS positions counted{{else}}{{.Rep.BOSExcluded}} BOS positions left out{{end}} · {{.Rep.SchemaVersion}} · {{.Rep.Provenance.Tool}} {{.Rep.Provenance.Version}} ({{.Rep.Provenance.BLAS}}) · {{.Total}} neurons, {{.Shown}} detailed (largest max activation)</p>
<h2>Neuron index</h2>
<table id="index"><thead><tr><th class="l" data-k="hook" data-t="s">hook</th><th data-k="layer">layer</th><th data-k="index">neuron</th><th data-k="max">max act</th><th data-k="min">min act</th><th data-k="mean">mean</th><th data-k="density">density (≠0)</th><th data-k="pos">frac &gt; 0</th><th class="l" data-k="label" data-t="s">label</th></tr></thead><tbody>
{{range .Index}}<tr data-hook="{{.Hook}}" data-layer="{{.Layer}}" data-index="{{.Index}}" data-max="{{.Max}}" data-min="{{.Min}}" data-mean="{{.Mean}}" data-density="{{.FracNonzero}}" data-pos="{{.FracPositive}}" data-label="{{range .Labels}}{{.Text}} {{end}}"><td class="l">{{if .Detailed}}<a href="#n-{{.Key}}">{{.Hook}}</a>{{else}}{{.Hook}}{{end}}</td><td>{{.Layer}}</td><td>{{.Index}}</td><td>{{f .Max}}</td><td>{{f .Min}}</td><td>{{f .Mean}}</td><td>{{pct .FracNonzero}}</td><td>{{pct .FracPositive}}</td><td class="l">{{range .Labels}}{{.Text}} {{end}}</td></tr>
{{end}}</tbody></table>
{{.Labels}}
{{range .Neurons}}{{$k := .Key}}
<section class="neuron" id="n-{{.Key}}">
<h2>{{.Hook}} · {{unit .Hook}} {{.Index}}</h2>
{{range .Labels}}<p><span class="label">{{.Text}}</span>{{if .Source}} <small>({{.Source}}{{if .Score}}, score {{f .Score}}{{end}})</small>{{end}}</p>{{end}}
{{range .Verdicts}}<p>{{.Check}}: <span class="verdict">{{.Verdict}}</span>{{if .Detail}} — {{.Detail}}{{end}}</p>{{end}}
<table class="stats"><tr><td>count {{.Count}}</td><td>mean {{f .Mean}}</td><td>variance {{f .Variance}}</td><td>skewness {{f .Skewness}}</td><td>kurtosis {{f .Kurtosis}}</td><td>max {{f .NeuronReport.Max}}</td><td>min {{f .NeuronReport.Min}}</td><td>density {{pct .FracNonzero}}</td><td>&gt; 0 {{pct .FracPositive}}</td></tr></table>
<h3>Activation histogram (log counts)</h3>
<svg width="420" height="100" viewBox="-10 -5 420 105" role="img" aria-label="activation histogram">{{range .Bars}}<rect class="bar" x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}"><title>{{.Title}}</title></rect>{{end}}<text x="0" y="98" font-size="10">{{.HistLo}}</text><text x="400" y="98" font-size="10" text-anchor="end">{{.HistHi}}</text></svg>
{{if or .LMHead .DLA}}<div class="logits">{{with .LMHead}}<div class="lmhead" id="lm-{{$k}}"><h3>LM-head decoding of the write direction <small>(W<sub>U</sub> w, no final norm)</small></h3><div class="lm">+ {{range .Top}}<span title="{{f .Score}}">{{.Token}}</span>{{end}}</div><div class="lm">− {{range .Bottom}}<span class="neg" title="{{f .Score}}">{{.Token}}</span>{{end}}</div></div>{{end}}{{with .DLA}}<div class="dla" id="dla-{{$k}}"><h3>DLA per unit activation <small>(through the final norm weight: W<sub>U</sub>(γ ⊙ P w))</small></h3><div class="lm">+ {{range .Top}}<span title="{{f .Score}}">{{.Token}}</span>{{end}}</div><div class="lm">− {{range .Bottom}}<span class="neg" title="{{f .Score}}">{{.Token}}</span>{{end}}</div></div>{{end}}</div>{{end}}
<h3>Top activations</h3>
{{range .Max}}{{template "ex" .}}{{end}}
<h3>Most negative activations</h3>
{{range .Min}}{{template "ex" .}}{{end}}
<h3>Quantile samples</h3>
{{range .Bins}}<details><summary>[{{f .Min}}, {{f .Max}}) — {{.Contains}} contexts</summary>{{range .Examples}}{{template "ex" .}}{{end}}</details>{{end}}
{{if .Random}}<details><summary>Random sample</summary>{{range .Random}}{{template "ex" .}}{{end}}</details>{{end}}
</section>
{{end}}
<script>
(function(){
  var t=document.getElementById("index"),tb=t.tBodies[0];
  Array.prototype.forEach.call(t.tHead.rows[0].cells,function(th){
    th.addEventListener("click",function(){
      var k=th.dataset.k,str=th.dataset.t==="s",asc=!th.classList.contains("sorted-asc");
      var rows=Array.prototype.slice.call(tb.rows);
      rows.sort(function(a,b){var x=a.dataset[k],y=b.dataset[k];
        var c=str?(x<y?-1:x>y?1:0):(parseFloat(x)-parseFloat(y));return asc?c:-c;});
      rows.forEach(function(r){tb.appendChild(r);});
      Array.prototype.forEach.call(t.tHead.rows[0].cells,function(c){c.classList.remove("sorted-asc","sorted-desc");});
      th.classList.add(asc?"sorted-asc":"sorted-desc");
    });
  });
  document.body.setAttribute("data-ready","1");
})();
</script>
</body></html>
{{define "ex"}}<div class="ex" id="{{.ID}}"><span class="meta">{{f .Value}} · doc {{.Doc}} pos {{.Pos}}</span>{{range .Tokens}}<span class="tok{{if .Max}} max{{end}}" style="{{.Style}}" title="{{.Title}}">{{.Text}}</span>{{end}}</div>
{{end}}`))
