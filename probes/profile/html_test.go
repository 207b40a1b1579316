package profile

import (
	"bytes"
	"encoding/json"
	"html/template"
	"path/filepath"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/model/report"
)

// TestWriteHTML: tokens are escaped (a token that is markup stays text), labels and verdicts
// appear, --limit keeps the neurons with the largest max, and nothing points outside the page.
func TestWriteHTML(t *testing.T) {
	s := makeSynth(6, 5, 40)
	p := New(Options{TopK: 3, CalibContext: 3})
	s.run(p, 0, 6)
	p.Finish()
	rep := p.Report(report.New(), Settings{Data: "synthetic"}, func(id int) string {
		if id == 7 {
			return `<script>alert("x")</script>`
		}
		return "tok" + itoa(id)
	})
	nr := &rep.Points[0].Neurons[3]
	nr.Labels = []Label{{Text: "fires on tok7", Source: "test", Score: 0.5}}
	nr.Verdicts = []Verdict{{Check: "ablation", Verdict: "confirmed", Detail: "logit drop 2.1"}}
	var buf bytes.Buffer
	if err := WriteHTML(&buf, rep, HTMLOptions{}); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, want := range []string{"fires on tok7", "confirmed", "logit drop 2.1", `id="n-0-3"`, `id="ex-0-3-max-0"`, "&lt;script&gt;"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, `<script>alert`) {
		t.Error("a token was not escaped")
	}
	for _, bad := range []string{"http://", "https://", "src="} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	buf.Reset()
	if err := WriteHTML(&buf, rep, HTMLOptions{MaxNeurons: 5}); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(buf.String(), `<section class="neuron"`); n != 5 {
		t.Errorf("--limit 5 shows %d neurons", n)
	}
}

// TestStreamingExports: the profiler's streaming WriteExports writes the report Report builds,
// and the dashboard from ReadReportTop (examples of the detailed neurons only) is byte-identical
// to the one from the whole report.
func TestStreamingExports(t *testing.T) {
	s := makeSynth(6, 5, 300)
	p := New(Options{TopK: 3, CalibContext: 3})
	s.run(p, 0, 6)
	p.Finish()
	dir := t.TempDir()
	set := Settings{Data: "synthetic", ModelID: "m"}
	if err := p.WriteExports(dir, report.New(), set, nil, func(nr *NeuronReport) {
		nr.Labels = []Label{{Text: "label " + itoa(nr.Index)}}
	}); err != nil {
		t.Fatal(err)
	}
	got, err := ReadReport(filepath.Join(dir, "profile.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := p.Report(report.New(), set, nil)
	for i := range want.Points[0].Neurons {
		want.Points[0].Neurons[i].Labels = []Label{{Text: "label " + itoa(i)}}
	}
	wj, _ := json.Marshal(want)
	gj, _ := json.Marshal(got)
	if !bytes.Equal(wj, gj) {
		t.Error("streamed profile.json differs from Report")
	}
	var full, top bytes.Buffer
	if err := WriteHTML(&full, got, HTMLOptions{MaxNeurons: 17}); err != nil {
		t.Fatal(err)
	}
	part, err := ReadReportTop(filepath.Join(dir, "profile.json"), 17)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteHTML(&top, part, HTMLOptions{MaxNeurons: 17}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(full.Bytes(), top.Bytes()) {
		t.Error("the dashboard from ReadReportTop differs from the one from the whole report")
	}
	if n := strings.Count(top.String(), "<tr data-hook="); n != 300 {
		t.Errorf("index has %d rows, want 300", n)
	}
}

// TestHTMLTokenBoundaries: every token of an example is its own span styled with a visible
// boundary, whatever the tokenizer: WordLevel words that carry no spaces do not run together,
// and a token that decodes to nothing shows as ∅.
func TestHTMLTokenBoundaries(t *testing.T) {
	s := makeSynth(4, 5, 3)
	p := New(Options{TopK: 2, CalibContext: 2, Before: 4, After: 4})
	s.run(p, 0, 4)
	p.Finish()
	words := []string{"<bos>", "zhiyi", "Dupel", "hal", "Jihur", ""}
	rep := p.Report(report.New(), Settings{Data: "synthetic"}, func(id int) string { return words[id%len(words)] })
	var buf bytes.Buffer
	if err := WriteHTML(&buf, rep, HTMLOptions{}); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	if !strings.Contains(page, ".tok{border-radius:2px;white-space:pre;"+TokenBoundaryCSS+"}") || !strings.Contains(TokenBoundaryCSS, "inset 1px 0 0 #") {
		t.Error("tokens have no visible boundary style")
	}
	ex := rep.Points[0].Neurons[0].TopMax[0]
	i := strings.Index(page, `id="ex-0-0-max-0"`)
	div := page[i : i+strings.Index(page[i:], "</div>")]
	if n := strings.Count(div, `<span class="tok`); n != len(ex.Tokens) {
		t.Errorf("%d token spans for %d tokens: %s", n, len(ex.Tokens), div)
	}
	for _, w := range ex.Tokens {
		want := w
		if w == "" {
			want = "∅"
		}
		if !strings.Contains(div, ">"+template.HTMLEscapeString(want)+"</span>") {
			t.Errorf("token %q is not its own span: %s", w, div)
		}
	}
}
