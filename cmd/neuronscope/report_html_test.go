package main

import (
	"context"
	"encoding/json"
	"errors"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/neuronscope/neuronscope/probes/profile"
)

// profileTiny profiles tiny-llama over a small id dataset and returns the output directory.
func profileTiny(t *testing.T) string {
	t.Helper()
	out := t.TempDir()
	if _, _, err := run("profile", "--model", tiny, "--data", writeIDData(t, 20), "--out", out, "--ctx", "16",
		"--top", "5", "--calib", "8", "--lm-head", "5", "--no-progress"); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestReportHTMLStatic(t *testing.T) {
	in := profileTiny(t)
	page := filepath.Join(t.TempDir(), "report.html")
	if _, _, err := run("report", "--in", in, "--out", page, "--limit", "10"); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	checkSelfContained(t, string(data))
	if n := strings.Count(string(data), `<section class="neuron"`); n != 10 {
		t.Errorf("%d neuron sections, want 10", n)
	}
	var u usageError
	if _, _, err := run("report", "--in", t.TempDir(), "--out", page); !errors.As(err, &u) {
		t.Errorf("report without profile.json: %v", err)
	}
}

// checkSelfContained: the CSP forbids fetching anything, and nothing in the page points
// outside it (no URLs, no src attributes, only in-page links).
func checkSelfContained(t *testing.T, s string) {
	t.Helper()
	m := regexp.MustCompile(`<meta http-equiv="Content-Security-Policy" content="([^"]*)">`).FindStringSubmatch(s)
	if m == nil || html.UnescapeString(m[1]) != profile.CSP {
		t.Errorf("no Content-Security-Policy meta tag with %q", profile.CSP)
	}
	for _, bad := range []string{"http://", "https://", "src=", "@import", "url("} {
		if strings.Contains(s, bad) {
			t.Errorf("the page contains %q", bad)
		}
	}
	for _, m := range regexp.MustCompile(`href="([^"]*)"`).FindAllStringSubmatch(s, -1) {
		if !strings.HasPrefix(m[1], "#") {
			t.Errorf("link %q leaves the page", m[1])
		}
	}
}

// chromium runs headless Chromium on the page with extra flags and returns stdout; the net log
// of the run is written to netlog.
func chromium(t *testing.T, bin, page, netlog string, extra ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
		"--user-data-dir=" + t.TempDir(), "--log-net-log=" + netlog}, extra...)
	args = append(args, "file://"+page)
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", extra, err, stderr.String())
	}
	return stdout.String()
}

// pageRequests lists the URLs a page asked for in a Chromium net log: URL requests made for a
// page (the browser's own service requests have initiator "not an origin") that are not file:
// or data: URLs.
func pageRequests(t *testing.T, netlog string) []string {
	t.Helper()
	data, err := os.ReadFile(netlog)
	if err != nil {
		t.Fatal(err)
	}
	var log struct {
		Events []struct {
			Params map[string]any `json:"params"`
		} `json:"events"`
	}
	if err := json.Unmarshal(data, &log); err != nil {
		t.Fatalf("net log: %v", err)
	}
	var out []string
	for _, e := range log.Events {
		u, _ := e.Params["url"].(string)
		init, ok := e.Params["initiator"].(string)
		if u == "" || !ok || init == "not an origin" || strings.HasPrefix(u, "file:") || strings.HasPrefix(u, "data:") {
			continue
		}
		out = append(out, u)
	}
	return out
}

// TestReportHTMLChromium loads the dashboard in real headless Chromium: the script runs, a
// known neuron's top example is rendered with the right tokens, no request leaves the page
// (Chromium's own net log; a control page with external resources shows the check works), and
// a screenshot is written (its path is logged).
func TestReportHTMLChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the full-size run is checked once, in the OpenBLAS build (make test)")
	}
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not on PATH (Debian: apt-get install chromium); skipping the browser test")
	}
	in := profileTiny(t)
	rep, err := profile.ReadReport(filepath.Join(in, "profile.json"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	if _, _, err := run("report", "--in", in, "--out", page, "--limit", "0"); err != nil {
		t.Fatal(err)
	}
	netlog := filepath.Join(dir, "net.json")
	dom := chromium(t, bin, page, netlog, "--dump-dom", "--virtual-time-budget=2000")
	if !strings.Contains(dom, `data-ready="1"`) {
		t.Error("the page's script did not run")
	}
	nr := rep.Points[1].Neurons[7]
	id := "ex-" + profile.NeuronKey(nr) + "-max-0"
	i := strings.Index(dom, `id="`+id+`"`)
	if i < 0 {
		t.Fatalf("no element %s in the DOM", id)
	}
	div := dom[i:]
	div = div[:strings.Index(div, "</div>")]
	var got []string
	for _, m := range regexp.MustCompile(`<span class="tok[^"]*"[^>]*>([^<]*)</span>`).FindAllStringSubmatch(div, -1) {
		got = append(got, html.UnescapeString(m[1]))
	}
	want := nr.TopMax[0].Tokens
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("top example of neuron %s: DOM tokens %q, want %q", profile.NeuronKey(nr), got, want)
	}
	if !strings.Contains(div, `class="tok max"`) {
		t.Error("the max token is not marked")
	}
	// the DLA tokens are rendered next to, and apart from, the LM-head decoding
	for _, sec := range []struct {
		id, title string
		lists     *profile.TokenLists
	}{{"dla-" + profile.NeuronKey(nr), "DLA per unit activation", nr.DLA}, {"lm-" + profile.NeuronKey(nr), "LM-head decoding of the write direction", nr.LMHead}} {
		i := strings.Index(dom, `id="`+sec.id+`"`)
		if sec.lists == nil || i < 0 {
			t.Errorf("no %s section (report lists %v)", sec.id, sec.lists)
			continue
		}
		part := dom[i:]
		part = part[:strings.Index(part, "</div></div>")]
		if !strings.Contains(part, sec.title) {
			t.Errorf("section %s is not titled %q", sec.id, sec.title)
		}
		var toks []string
		for _, m := range regexp.MustCompile(`<span(?: class="neg")? title="[^"]*">([^<]*)</span>`).FindAllStringSubmatch(part, -1) {
			toks = append(toks, html.UnescapeString(m[1]))
		}
		var want []string
		for _, tk := range append(append([]profile.ScoredToken{}, sec.lists.Top...), sec.lists.Bottom...) {
			want = append(want, tk.Token)
		}
		if strings.Join(toks, "|") != strings.Join(want, "|") {
			t.Errorf("section %s: DOM tokens %q, want %q", sec.id, toks, want)
		}
	}
	if reqs := pageRequests(t, netlog); len(reqs) > 0 {
		t.Errorf("the page made requests: %v", reqs)
	}

	shot := filepath.Join(os.TempDir(), "neuronscope-report-screenshot.png")
	os.Remove(shot)
	chromium(t, bin, page, filepath.Join(dir, "net2.json"), "--screenshot="+shot, "--window-size=1280,1600")
	if st, err := os.Stat(shot); err != nil || st.Size() == 0 {
		t.Fatalf("no screenshot: %v", err)
	}
	t.Logf("screenshot: %s", shot)

	// control: the same check sees a page's external requests
	ctrl := filepath.Join(dir, "control.html")
	os.WriteFile(ctrl, []byte(`<html><body><img src="http://neuronscope.invalid/x.png"></body></html>`), 0o644)
	chromium(t, bin, ctrl, filepath.Join(dir, "net3.json"), "--dump-dom")
	if reqs := pageRequests(t, filepath.Join(dir, "net3.json")); len(reqs) == 0 {
		t.Error("the net-log check did not see the control page's external image")
	}
}
