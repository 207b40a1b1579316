package model

import (
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/internal/fixtures"
)

// TestParity is the reference-comparison suite every architecture runs against the shared
// fixtures' golden.json (float64 PyTorch): logits, every hook point, both padded batches and
// greedy tokens, float32 within 1e-4 absolute or 1e-5 relative.
func TestParity(t *testing.T) {
	for _, dir := range fixtures.Checkpoints(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			g := fixtures.ReadGolden(t, dir)
			m, err := Load(dir)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			defer m.Close()
			if len(m.Warnings) > 0 { // real configs as HF writes them: every key known
				t.Errorf("load warnings: %q", m.Warnings)
			}
			t.Run("hook_names", func(t *testing.T) { checkHookNames(t, m, g) })
			t.Run("unpadded", func(t *testing.T) { checkUnpadded(t, m, g) })
			t.Run("right_padded", func(t *testing.T) { checkPadded(t, m, g, g.RightPadded, PadRight) })
			t.Run("left_padded", func(t *testing.T) { checkPadded(t, m, g, g.LeftPadded, PadLeft) })
			t.Run("greedy", func(t *testing.T) { checkGreedy(t, m, g) })
		})
	}
}

func checkHookNames(t *testing.T, m *Model, g *fixtures.Golden) {
	var ours []string
	for _, p := range m.Catalog().Points {
		ours = append(ours, p.String())
	}
	want := append([]string(nil), g.HookNames...)
	if c := m.Config; c.LearnedPos && !contains(want, "hook_pos_embed") {
		want = append(want, "hook_pos_embed")
	}
	// The goldens hold no attention or block-norm hook points: every model adds exactly the
	// ones its architecture has (invariants_test.go checks them).
	for l := 0; l < m.Config.NLayers; l++ {
		for _, s := range attnSites {
			if p := hooks.At(l, s); m.Config.hasSite(s) && !contains(want, p.String()) {
				want = append(want, p.String())
			}
		}
	}
	sort.Strings(ours)
	sort.Strings(want)
	if strings.Join(ours, "\n") != strings.Join(want, "\n") {
		t.Errorf("hook points differ from the reference:\nours: %v\nwant: %v", ours, want)
	}
}

// attnSites are the per-layer sites the reference goldens do not hold.
var attnSites = []hooks.Site{hooks.LN1Scale, hooks.LN1Normalized, hooks.AttnQ, hooks.AttnK, hooks.AttnV,
	hooks.AttnRotQ, hooks.AttnRotK, hooks.AttnScores, hooks.AttnPattern, hooks.AttnResult, hooks.LN2Scale, hooks.LN2Normalized}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

func checkUnpadded(t *testing.T, m *Model, g *fixtures.Golden) {
	for p, prompt := range g.Prompts {
		b, err := NewBatch([][]int{prompt}, PadRight, 0)
		if err != nil {
			t.Fatal(err)
		}
		res, err := m.Forward(b, hooks.Capture("*"))
		if err != nil {
			t.Fatalf("prompt %d: %v", p, err)
		}
		v := m.Config.DVocab
		var bad, total int
		var worst float64
		for pos := range prompt {
			for tok := 0; tok < v; tok++ {
				got := res.Logits.Data[pos*v+tok]
				want := g.Logits[p][pos][tok]
				total++
				if !close32(got, want) {
					bad++
				}
				worst = math.Max(worst, math.Abs(float64(got)-want))
			}
			if g.ArgmaxMargin[p][pos] > 1e-3 {
				if a := argmax(res.Logits.Data[pos*v : (pos+1)*v]); a != g.ArgmaxNext[p][pos] {
					t.Errorf("prompt %d pos %d: argmax %d, reference %d", p, pos, a, g.ArgmaxNext[p][pos])
				}
			}
		}
		if bad > 0 {
			t.Errorf("prompt %d: %d of %d logits outside tolerance, max abs diff %.3g", p, bad, total, worst)
		}
		checkHookStats(t, fmt.Sprintf("prompt %d", p), res.Cache, g.Hooks[p])
	}
}

// checkHookStats compares every captured activation the reference has statistics of.
func checkHookStats(t *testing.T, what string, cache *hooks.Cache, ref map[string]fixtures.HookStats) {
	t.Helper()
	for name, st := range ref {
		act, ok := cache.GetName(name)
		if !ok {
			t.Errorf("%s: hook %s not captured", what, name)
			continue
		}
		if msg := compareStats(act.Shape[1:], act.Data, st); msg != "" {
			t.Errorf("%s: %s: %s", what, name, msg)
		}
	}
}

// compareStats checks a captured [pos, ...] activation against the reference statistics.
func compareStats(shape []int, data []float32, st fixtures.HookStats) string {
	if fmt.Sprint(shape) != fmt.Sprint(st.Shape) {
		return fmt.Sprintf("shape %v, reference %v", shape, st.Shape)
	}
	var sum float64
	for _, v := range data {
		sum += float64(v)
	}
	mean := sum / float64(len(data))
	var ss float64
	for _, v := range data {
		d := float64(v) - mean
		ss += d * d
	}
	std := math.Sqrt(ss / float64(len(data)))
	var msgs []string
	if !close32(float32(mean), st.Mean) {
		msgs = append(msgs, fmt.Sprintf("mean %.8g, reference %.8g", mean, st.Mean))
	}
	if !close32(float32(std), st.Std) {
		msgs = append(msgs, fmt.Sprintf("std %.8g, reference %.8g", std, st.Std))
	}
	for i, w := range st.First8 {
		if !close32(data[i], w) {
			msgs = append(msgs, fmt.Sprintf("first8[%d] %.8g, reference %.8g", i, data[i], w))
		}
	}
	inner := len(data) / shape[0]
	last := data[len(data)-inner:]
	for i, w := range st.LastPosFirst8 {
		if !close32(last[i], w) {
			msgs = append(msgs, fmt.Sprintf("last_pos_first8[%d] %.8g, reference %.8g", i, last[i], w))
		}
	}
	return strings.Join(msgs, "; ")
}

func checkPadded(t *testing.T, m *Model, g *fixtures.Golden, pg fixtures.PaddedGolden, side Pad) {
	b, err := NewBatch(g.Prompts, side, pg.PadTokenID)
	if err != nil {
		t.Fatal(err)
	}
	for i := range pg.InputIDs {
		for j := range pg.InputIDs[i] {
			if b.IDs[i*b.Len+j] != pg.InputIDs[i][j] || (pg.AttentionMask[i][j] == 1) != b.Mask[i*b.Len+j] {
				t.Fatalf("%s padding: row %d differs from the reference batch", side, i)
			}
		}
	}
	res, err := m.Forward(b)
	if err != nil {
		t.Fatal(err)
	}
	v := m.Config.DVocab
	for i, prompt := range g.Prompts {
		off := 0
		if side == PadLeft {
			off = b.Len - len(prompt)
		}
		var bad int
		for pos := range prompt {
			row := res.Logits.Data[(i*b.Len+off+pos)*v : (i*b.Len+off+pos+1)*v]
			for tok, want := range g.Logits[i][pos] {
				if !close32(row[tok], want) {
					bad++
				}
			}
			if g.ArgmaxMargin[i][pos] > 1e-3 && argmax(row) != pg.ArgmaxReal[i][pos] {
				t.Errorf("%s padding row %d pos %d: argmax %d, reference %d", side, i, pos, argmax(row), pg.ArgmaxReal[i][pos])
			}
		}
		if bad > 0 {
			t.Errorf("%s padding row %d: %d logits at real positions differ from the unbatched reference", side, i, bad)
		}
		lastRow := res.Logits.Data[(i*b.Len+off+len(prompt)-1)*v:]
		for k, want := range pg.LastRealFirst8[i] {
			if !close32(lastRow[k], want) {
				t.Errorf("%s padding row %d: last real logit[%d] = %.8g, reference %.8g", side, i, k, lastRow[k], want)
			}
		}
	}
}

func checkGreedy(t *testing.T, m *Model, g *fixtures.Golden) {
	gr := g.Greedy
	out, err := m.Generate([][]int{g.Prompts[gr.PromptIndex]}, gr.NNew)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range gr.NewTokens {
		if gr.StepMargins[i] < 1e-4 {
			t.Logf("greedy step %d is a near tie (margin %.3g); it and later steps are not compared", i, gr.StepMargins[i])
			return
		}
		if out[0][i] != want {
			t.Fatalf("greedy step %d: token %d, reference %d (margin %.3g); got %v want %v", i, out[0][i], want, gr.StepMargins[i], out[0], gr.NewTokens)
		}
	}
}
