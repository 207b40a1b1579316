package main

import (
	"fmt"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/probes/labels"
)

// labelledReport profiles the verify fixture's model, verifies its neuron set with the matrix
// and a sweep, and writes the report page with the labels; it returns the page, the label
// file's path and its content.
func labelledReport(t *testing.T) (page, labelsPath string, lf *labels.File) {
	t.Helper()
	dir, eval, neurons, texts := verifyFixture(t)
	tmp := t.TempDir()
	prof := filepath.Join(tmp, "profile")
	if _, _, err := run("profile", "--model", dir, "--data", texts, "--out", prof, "--ctx", "16", "--top", "3", "--calib", "4",
		"--no-progress"); err != nil {
		t.Fatal(err)
	}
	labelsPath = filepath.Join(tmp, "labels.json")
	if _, _, err := run("verify", "--model", dir, "--neurons", neurons, "--eval", eval, "--text", texts, "--experiment", "matrix,sweep",
		"--ks", "1,2", "--random", "3", "--resamples", "100", "--profile", prof, "--no-progress", "--out", labelsPath); err != nil {
		t.Fatal(err)
	}
	var err error
	if lf, err = labels.ReadFile(labelsPath); err != nil {
		t.Fatal(err)
	}
	page = filepath.Join(tmp, "report.html")
	if _, _, err := run("report", "--in", prof, "--labels", labelsPath, "--out", page, "--limit", "0"); err != nil {
		t.Fatal(err)
	}
	return page, labelsPath, lf
}

// TestReportLabelsStatic: the page with labels is self-contained and holds a heatmap cell per
// matrix entry, a sweep plot per swept set, and the labels on their neurons; the evidence of
// the profile is in the label file.
func TestReportLabelsStatic(t *testing.T) {
	page, _, lf := labelledReport(t)
	data, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	checkSelfContained(t, s)
	if len(lf.Matrices) != 2 || len(lf.Sweeps) != 2 || len(lf.Labels[0].Verifications) != 2 {
		t.Fatalf("%d matrices, %d sweeps, %d verifications of %s", len(lf.Matrices), len(lf.Sweeps), len(lf.Labels[0].Verifications), lf.Labels[0].Set)
	}
	cells := 0
	for _, m := range lf.Matrices {
		cells += len(m.Sets) * len(m.Groups)
	}
	if n := strings.Count(s, `<rect class="cell"`); n != cells {
		t.Errorf("%d heatmap cells, want %d", n, cells)
	}
	if n := strings.Count(s, `<svg id="sweep-`); n != 2 {
		t.Errorf("%d sweep plots, want 2", n)
	}
	if !strings.Contains(s, "relation: capital_of") {
		t.Error("no neuron shows its label")
	}
	u := lf.Labels[0].Units[0]
	if len(u.TopExamples) == 0 || len(u.LMHead) == 0 {
		t.Errorf("unit %s[%d] has no profile evidence: %+v", u.Hook, u.Index, u)
	}
}

// TestReportLabelsChromium loads the labelled report in headless Chromium: the heatmap cells
// carry the label file's effects, the sweep plot has one point per k on its line and a random
// band, the label table shows every verdict, no request leaves the page, and a screenshot is
// written (its path is logged).
func TestReportLabelsChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the browser test runs once, in the OpenBLAS build (make test)")
	}
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not on PATH (Debian: apt-get install chromium); skipping the browser test")
	}
	page, _, lf := labelledReport(t)
	dir := t.TempDir()
	netlog := filepath.Join(dir, "net.json")
	dom := chromium(t, bin, page, netlog, "--dump-dom", "--virtual-time-budget=2000")
	if !strings.Contains(dom, `data-ready="1"`) {
		t.Error("the page's script did not run")
	}
	// heatmap: every cell of the first matrix, with its effect
	m := lf.Matrices[0]
	svg := element(t, dom, `<svg id="matrix-0"`, "</svg>")
	cellRe := regexp.MustCompile(`<rect class="cell" data-set="([^"]*)" data-group="([^"]*)" data-effect="([^"]*)" data-own="([^"]*)"`)
	found := cellRe.FindAllStringSubmatch(svg, -1)
	if len(found) != len(m.Sets)*len(m.Groups) {
		t.Fatalf("%d cells in the DOM, want %d", len(found), len(m.Sets)*len(m.Groups))
	}
	for k, c := range found {
		i, j := k/len(m.Groups), k%len(m.Groups)
		eff, err := strconv.ParseFloat(c[3], 64)
		if html.UnescapeString(c[1]) != m.Sets[i] || html.UnescapeString(c[2]) != m.Groups[j] || err != nil || eff != m.Cells[i][j].Effect ||
			(c[4] == "true") != (m.Sets[i] == m.Groups[j]) {
			t.Errorf("cell %d: %v; want %s × %s effect %v", k, c[1:], m.Sets[i], m.Groups[j], m.Cells[i][j].Effect)
		}
	}
	// sweep: one point per k on the claimed line, a random band
	sw := lf.Sweeps[0]
	plot := element(t, dom, `<svg id="sweep-0"`, "</svg>")
	line := regexp.MustCompile(`<polyline class="claimed" points="([^"]*)"`).FindStringSubmatch(plot)
	if line == nil || len(strings.Fields(line[1])) != len(sw.Points) {
		t.Errorf("claimed line %v, want %d points", line, len(sw.Points))
	}
	if !strings.Contains(plot, `<polygon class="band"`) || !strings.Contains(plot, `<polyline class="others"`) {
		t.Error("the sweep plot lacks the random band or the others' line")
	}
	var ks []string
	for _, c := range regexp.MustCompile(`<circle class="pt" data-k="(\d+)"`).FindAllStringSubmatch(plot, -1) {
		ks = append(ks, c[1])
	}
	var want []string
	for _, p := range sw.Points {
		want = append(want, fmt.Sprint(p.K))
	}
	if strings.Join(ks, ",") != strings.Join(want, ",") {
		t.Errorf("sweep points at k %v, want %v", ks, want)
	}
	// the label table
	for _, l := range lf.Labels {
		if !strings.Contains(dom, fmt.Sprintf(`<tr data-set="%s" data-verdict="%s">`, l.Set, l.Verdict)) {
			t.Errorf("label table lacks %s (%s)", l.Set, l.Verdict)
		}
	}
	if reqs := pageRequests(t, netlog); len(reqs) > 0 {
		t.Errorf("the page made requests: %v", reqs)
	}
	shot := filepath.Join(os.TempDir(), "neuronscope-labels-screenshot.png")
	os.Remove(shot)
	chromium(t, bin, page, filepath.Join(dir, "net2.json"), "--screenshot="+shot, "--window-size=1280,2400")
	if st, err := os.Stat(shot); err != nil || st.Size() == 0 {
		t.Fatalf("no screenshot: %v", err)
	}
	t.Logf("screenshot: %s", shot)
}

// element returns the text of dom from start up to and including the first end after it.
func element(t *testing.T, dom, start, end string) string {
	t.Helper()
	i := strings.Index(dom, start)
	if i < 0 {
		t.Fatalf("no %s in the DOM", start)
	}
	j := strings.Index(dom[i:], end)
	if j < 0 {
		t.Fatalf("%s is not closed", start)
	}
	return dom[i : i+j+len(end)]
}
