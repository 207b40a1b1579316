package spectra

import (
	"math"
	"testing"
)

// The analytic acceptance values of algorithms.md §9 (NerVE), to 1e-6.
func TestAnalyticSpectra(t *testing.T) {
	floor := Eps
	cases := []struct {
		name        string
		lam         []float64
		se, pr, eee float64
	}{
		{"uniform D=4", []float64{1, 1, 1, 1}, math.Log(4), 4, 0},
		{"rank-1 D=4", []float64{1, floor, floor, floor}, 0, 1, 0.75},
		{"[4,3,2,1]", []float64{4, 3, 2, 1}, 1.279854, 10.0 / 3, 0.25},
	}
	for _, c := range cases {
		m := Measure(Spectrum(nil, c.lam))
		if math.Abs(m.SE-c.se) > 1e-6 || math.Abs(m.PR-c.pr) > 1e-6 || math.Abs(m.EEE-c.eee) > 1e-6 {
			t.Errorf("%s: SE %.7f PR %.7f EEE %.7f, want %.7f %.7f %.7f", c.name, m.SE, m.PR, m.EEE, c.se, c.pr, c.eee)
		}
	}
	if js := JensenShannon([]float64{.4, .3, .2, .1}, []float64{.25, .25, .25, .25}); math.Abs(js-0.0278656) > 1e-6 {
		t.Errorf("JS([.4,.3,.2,.1], uniform) = %.7f, want 0.0278656", js)
	}
	// Normalisation is part of JS: unnormalised spectra give the same value.
	if js := JensenShannon([]float64{4, 3, 2, 1}, []float64{7, 7, 7, 7}); math.Abs(js-0.0278656) > 1e-6 {
		t.Errorf("JS of unnormalised spectra = %.7f, want 0.0278656", js)
	}
}

func TestMeasureEdges(t *testing.T) {
	// Ranges: SE ≤ ln D, PR ≤ D, JS ≤ ln 2 (disjoint supports via padding).
	if js := JensenShannon([]float64{1}, []float64{Eps, 1}); js < 0 || js > math.Ln2+1e-9 {
		t.Errorf("JS out of [0, ln 2]: %v", js)
	}
	// Zero padding: a spectrum against itself padded with zeros is the same distribution.
	if js := JensenShannon([]float64{3, 2, 1}, []float64{3, 2, 1, 0, 0}); math.Abs(js) > 1e-12 {
		t.Errorf("JS with zero padding = %v, want 0", js)
	}
	if js := JensenShannon([]float64{3, 2, 1}, []float64{3, 2, 1}); js != 0 {
		t.Errorf("JS(p, p) = %v", js)
	}
	// EEE is clamped at 0 for an ascending (bottom-heavy) order.
	if e := EarlyEnrichment([]float64{1, 2, 3, 4}); e != 0 {
		t.Errorf("EEE of an ascending spectrum = %v, want clamp to 0", e)
	}
	// Spectrum sorts descending and clamps.
	s := Spectrum(nil, []float64{-3e-15, 2, 0.5, 1e-20})
	want := []float64{2, 0.5, Eps, Eps}
	for i := range want {
		if s[i] != want[i] {
			t.Fatalf("Spectrum = %v, want %v", s, want)
		}
	}
	pre, post := Measures{PR: 2, EEE: 0.5}, Measures{PR: 6, EEE: 0.2}
	if g, d := PRGain(pre, post), EEEDiff(pre, post); g != 3 || math.Abs(d+0.3) > 1e-15 {
		t.Errorf("PRGain %v EEEDiff %v", g, d)
	}
	if m := Measure(nil); m.SE != 0 || m.EEE != 0 {
		t.Errorf("empty spectrum: %+v", m)
	}
}
