package model

import (
	"fmt"
	"math"
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model/tensor"
)

// Invariants of the attention hook points, on the tiny random models of every architecture
// (the reference goldens hold no attention points).

func capture(t *testing.T, m *Model, b Batch, opts ...hooks.Option) *Result {
	t.Helper()
	res, err := m.Forward(b, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func get(t *testing.T, res *Result, p hooks.Point) *tensor.Tensor {
	t.Helper()
	a, ok := res.Cache.Get(p)
	if !ok {
		t.Fatalf("%v not captured", p)
	}
	return a
}

// visible says whether query i of batch row bi may see key j: a real key, at or before the
// query in causal models, inside the sliding window of local layers.
func visible(c *Config, l int, b Batch, bi, i, j int) bool {
	if !b.Mask[bi*b.Len+j] {
		return false
	}
	sp := c.attnSpec(l)
	if sp.causal && j > i {
		return false
	}
	return sp.window == 0 || i-j < sp.window
}

// TestPatternRows: in padded batches (both sides), every pattern row sums to 1 over the keys
// its query may see and is exactly 0 elsewhere, where the scores are -Inf; a query that sees
// no key has a zero row.
func TestPatternRows(t *testing.T) {
	for name, m := range tinyModels(t) {
		c := m.Config
		for _, side := range []Pad{PadRight, PadLeft} {
			b, _ := NewBatch(prompts, side, 0)
			res := capture(t, m, b, hooks.Capture("blocks.*.attn.hook_pattern", "blocks.*.attn.hook_attn_scores"))
			for l := 0; l < c.NLayers; l++ {
				p := get(t, res, hooks.At(l, hooks.AttnPattern))
				s := get(t, res, hooks.At(l, hooks.AttnScores))
				if fmt.Sprint(p.Shape) != fmt.Sprint([]int{b.Size, c.NHeads, b.Len, b.Len}) {
					t.Fatalf("%s: pattern shape %v", name, p.Shape)
				}
				for bi := 0; bi < b.Size; bi++ {
					for h := 0; h < c.NHeads; h++ {
						for i := 0; i < b.Len; i++ {
							off := ((bi*c.NHeads+h)*b.Len + i) * b.Len
							var sum float64
							seen := false
							for j := 0; j < b.Len; j++ {
								pv, sv := p.Data[off+j], s.Data[off+j]
								if visible(c, l, b, bi, i, j) {
									seen = true
									sum += float64(pv)
									if math.IsInf(float64(sv), 0) || pv < 0 {
										t.Fatalf("%s %s L%d: visible key has score %g, p %g", name, side, l, sv, pv)
									}
								} else if pv != 0 || !math.IsInf(float64(sv), -1) {
									t.Fatalf("%s %s L%d b%d h%d q%d k%d: masked key has p %g, score %g", name, side, l, bi, h, i, j, pv, sv)
								}
							}
							if seen && math.Abs(sum-1) > 1e-6 || !seen && sum != 0 {
								t.Fatalf("%s %s L%d b%d h%d q%d: pattern row sums to %.9g", name, side, l, bi, h, i, sum)
							}
						}
					}
				}
			}
		}
	}
}

// TestScoresFromQK: hook_attn_scores = scale·rot_q·rot_k (hook_q·hook_k without RoPE) at every
// visible entry, with key/value head h/(n_heads/n_kv_heads) for query head h; and the pattern
// is the softmax of the scores.
func TestScoresFromQK(t *testing.T) {
	for name, m := range tinyModels(t) {
		c := m.Config
		b, _ := NewBatch(prompts[:2], PadLeft, 0)
		qs, ks := hooks.AttnQ, hooks.AttnK
		if c.RotaryDim > 0 {
			qs, ks = hooks.AttnRotQ, hooks.AttnRotK
		}
		l := 1
		res := capture(t, m, b, hooks.CapturePoints(hooks.At(l, qs), hooks.At(l, ks), hooks.At(l, hooks.AttnScores), hooks.At(l, hooks.AttnPattern)))
		q, k := get(t, res, hooks.At(l, qs)), get(t, res, hooks.At(l, ks))
		s, p := get(t, res, hooks.At(l, hooks.AttnScores)), get(t, res, hooks.At(l, hooks.AttnPattern))
		if k.Shape[2] != c.NKVHeads {
			t.Fatalf("%s: hook_k has %d heads, want n_kv_heads %d", name, k.Shape[2], c.NKVHeads)
		}
		sp := c.attnSpec(l)
		scale := float64(sp.scale)
		dh, g := c.DHead, c.NHeads/c.NKVHeads
		var worst float64
		for bi := 0; bi < b.Size; bi++ {
			for h := 0; h < c.NHeads; h++ {
				for i := 0; i < b.Len; i++ {
					for j := 0; j < b.Len; j++ {
						if !visible(c, l, b, bi, i, j) {
							continue
						}
						var dot float64
						for e := 0; e < dh; e++ {
							dot += float64(q.Data[((bi*b.Len+i)*c.NHeads+h)*dh+e]) * float64(k.Data[((bi*b.Len+j)*c.NKVHeads+h/g)*dh+e])
						}
						want := dot * scale
						if sp.softcap > 0 {
							want = float64(sp.softcap) * math.Tanh(want/float64(sp.softcap))
						}
						if sp.alibi != nil { // slope_h·(pos_k − pos_q), positions counting real tokens
							want += float64(sp.alibi[h]) * float64(realBefore(b, bi, j)-realBefore(b, bi, i))
						}
						got := float64(s.Data[((bi*c.NHeads+h)*b.Len+i)*b.Len+j])
						worst = math.Max(worst, math.Abs(got-want)/(1+math.Abs(want)))
					}
				}
			}
		}
		if worst > 1e-5 {
			t.Errorf("%s: scores differ from scale·q·k (soft-capped, ALiBi) by %.3g", name, worst)
		}
		row := append([]float32(nil), s.Data[:b.Len]...)
		softmaxRow(row)
		if d := maxDiff(row, p.Data[:b.Len]); d != 0 {
			t.Errorf("%s: pattern row is not the softmax of its scores (diff %g)", name, d)
		}
	}
}

// realBefore is the position id of position j of batch row bi: real tokens before it.
func realBefore(b Batch, bi, j int) int {
	n := 0
	for k := 0; k < j; k++ {
		if b.Mask[bi*b.Len+k] {
			n++
		}
	}
	return n
}

// TestAttentionEdits: edits at the attention points change the rest of the pass exactly as
// the computation says.
func TestAttentionEdits(t *testing.T) {
	for name, m := range tinyModels(t) {
		c := m.Config
		b, _ := NewBatch(prompts[:2], PadRight, 0)
		base := capture(t, m, b)
		const l = 0
		g := c.NHeads / c.NKVHeads
		zeroHeads := func(heads map[int]bool, n int) hooks.Func {
			return func(_ hooks.Point, a *tensor.Tensor) error {
				dh := c.DHead
				for i := 0; i < len(a.Data)/dh; i++ {
					if heads[i%n] {
						clear(a.Data[i*dh : (i+1)*dh])
					}
				}
				return nil
			}
		}
		// Zeroing value head 0 of hook_v equals zeroing its query heads 0..g-1 of hook_z.
		group := map[int]bool{}
		for h := 0; h < g; h++ {
			group[h] = true
		}
		viaV := capture(t, m, b, hooks.EditPoint(hooks.At(l, hooks.AttnV), zeroHeads(map[int]bool{0: true}, c.NKVHeads)))
		viaZ := capture(t, m, b, hooks.EditPoint(hooks.At(l, hooks.AttnZ), zeroHeads(group, c.NHeads)))
		if d := maxDiff(viaV.Logits.Data, viaZ.Logits.Data); d != 0 {
			t.Errorf("%s: zeroing value head 0 differs from zeroing its z heads by %g", name, d)
		}
		if maxDiff(viaV.Logits.Data, base.Logits.Data) == 0 {
			t.Errorf("%s: zeroing a value head changed nothing", name)
		}
		// A one-hot pattern on key 0 makes z of every real query head h equal v of key 0 (its group's).
		pats := []hooks.Point{hooks.At(l, hooks.AttnZ), hooks.At(l, hooks.AttnV), hooks.At(l, hooks.AttnOut)}
		oneHot := capture(t, m, b, hooks.EditPoint(hooks.At(l, hooks.AttnPattern), func(_ hooks.Point, a *tensor.Tensor) error {
			tk := a.Shape[3]
			for r := 0; r < len(a.Data)/tk; r++ {
				row := a.Data[r*tk : (r+1)*tk]
				clear(row)
				row[0] = 1
			}
			return nil
		}), hooks.CapturePoints(pats...))
		z, v := get(t, oneHot, pats[0]), get(t, oneHot, pats[1])
		for bi := 0; bi < b.Size; bi++ {
			for i := 0; i < b.Len; i++ {
				for h := 0; h < c.NHeads; h++ {
					zr := z.Data[((bi*b.Len+i)*c.NHeads+h)*c.DHead:][:c.DHead]
					vr := v.Data[(bi*b.Len*c.NKVHeads+h/g)*c.DHead:][:c.DHead]
					if d := maxDiff(zr, vr); d > 1e-6 {
						t.Fatalf("%s: one-hot pattern: z differs from v of key 0 by %g", name, d)
					}
				}
			}
		}
		bo := get(t, capture(t, m, b, hooks.CapturePoints(pats[2])), pats[2])
		if maxDiff(get(t, oneHot, pats[2]).Data, bo.Data) == 0 {
			t.Errorf("%s: editing hook_pattern did not change hook_attn_out", name)
		}
		// Scores: -Inf everywhere but key 0 gives the same one-hot pattern.
		viaScores := capture(t, m, b, hooks.EditPoint(hooks.At(l, hooks.AttnScores), func(_ hooks.Point, a *tensor.Tensor) error {
			tk := a.Shape[3]
			for r := 0; r < len(a.Data)/tk; r++ {
				for j := 1; j < tk; j++ {
					a.Data[r*tk+j] = float32(math.Inf(-1))
				}
				a.Data[r*tk] = 0
			}
			return nil
		}), hooks.CapturePoints(pats[0]))
		if d := maxDiff(get(t, viaScores, pats[0]).Data, z.Data); d != 0 {
			t.Errorf("%s: scores edited to key 0 only differ from a one-hot pattern by %g", name, d)
		}
		// hook_q edits propagate: zeroing every query makes the pattern uniform over visible keys.
		uni := capture(t, m, b, hooks.Edit(hooks.At(l, hooks.AttnQ).String(), func(_ hooks.Point, a *tensor.Tensor) error { clear(a.Data); return nil }),
			hooks.CapturePoints(hooks.At(l, hooks.AttnPattern)))
		if c.ALiBi {
			continue
		}
		pu := get(t, uni, hooks.At(l, hooks.AttnPattern))
		nv := 0
		for j := 0; j < b.Len; j++ {
			if visible(c, l, b, 0, 3, j) {
				nv++
			}
		}
		for j := 0; j < b.Len; j++ {
			want := float32(0)
			if visible(c, l, b, 0, 3, j) {
				want = 1 / float32(nv)
			}
			if math.Abs(float64(pu.Data[3*b.Len+j]-want)) > 1e-7 {
				t.Fatalf("%s: zero queries: pattern[q3, k%d] = %g, want %g", name, j, pu.Data[3*b.Len+j], want)
			}
		}
	}
}

// TestAttnResult: attn.hook_result is computed only when asked; capturing it leaves the pass
// bit-identical; its heads sum to the attention output minus the output bias; zeroing a head
// of it equals zeroing that head of hook_z.
func TestAttnResult(t *testing.T) {
	for name, m := range tinyModels(t) {
		c := m.Config
		b, _ := NewBatch(prompts[:2], PadLeft, 0)
		const l = 1
		rp, out, zp := hooks.At(l, hooks.AttnResult), hooks.At(l, hooks.AttnOut), hooks.At(l, hooks.AttnZ)
		base := capture(t, m, b, hooks.CapturePoints(out))
		withRes := capture(t, m, b, hooks.CapturePoints(rp, out))
		if d := maxDiff(base.Logits.Data, withRes.Logits.Data); d != 0 {
			t.Errorf("%s: capturing hook_result changed the logits by %g", name, d)
		}
		bias := get(t, capture(t, m, b, hooks.EditPoint(zp, func(_ hooks.Point, a *tensor.Tensor) error { clear(a.Data); return nil }),
			hooks.CapturePoints(out)), out)
		res, ao := get(t, withRes, rp), get(t, withRes, out)
		if fmt.Sprint(res.Shape) != fmt.Sprint([]int{b.Size, b.Len, c.NHeads, c.DModel}) {
			t.Fatalf("%s: hook_result shape %v", name, res.Shape)
		}
		d := c.DModel
		for i := 0; i < b.Size*b.Len && !c.SandwichNorm; i++ { // Gemma 2/3: hook_attn_out is after a norm
			for e := 0; e < d; e++ {
				sum := float64(bias.Data[i*d+e])
				for h := 0; h < c.NHeads; h++ {
					sum += float64(res.Data[(i*c.NHeads+h)*d+e])
				}
				if math.Abs(sum-float64(ao.Data[i*d+e])) > 1e-5 {
					t.Fatalf("%s: Σ_h hook_result + b_O = %g, hook_attn_out %g", name, sum, ao.Data[i*d+e])
				}
			}
		}
		const head = 1
		viaRes := capture(t, m, b, hooks.EditPoint(rp, func(_ hooks.Point, a *tensor.Tensor) error {
			for i := 0; i < len(a.Data)/(c.NHeads*d); i++ {
				clear(a.Data[(i*c.NHeads+head)*d : (i*c.NHeads+head+1)*d])
			}
			return nil
		}))
		viaZ := capture(t, m, b, hooks.EditPoint(zp, func(_ hooks.Point, a *tensor.Tensor) error {
			for i := 0; i < len(a.Data)/(c.NHeads*c.DHead); i++ {
				clear(a.Data[(i*c.NHeads+head)*c.DHead : (i*c.NHeads+head+1)*c.DHead])
			}
			return nil
		}))
		if dd := maxDiff(viaRes.Logits.Data, viaZ.Logits.Data); dd > 1e-4 {
			t.Errorf("%s: zeroing head %d of hook_result differs from zeroing it in hook_z by %g", name, head, dd)
		}
		if maxDiff(viaRes.Logits.Data, base.Logits.Data) == 0 {
			t.Errorf("%s: editing hook_result changed nothing", name)
		}
	}
}

// TestBlockNormHooks: ln1/ln2.hook_normalized is the norm input divided by hook_scale
// (centred for LayerNorm); doubling hook_scale equals halving hook_normalized.
func TestBlockNormHooks(t *testing.T) {
	for name, m := range tinyModels(t) {
		c := m.Config
		b, _ := NewBatch(prompts[:2], PadRight, 0)
		const l = 1
		in := hooks.At(l, hooks.ResidMid)
		if c.ParallelResidual {
			in = hooks.At(l, hooks.ResidPre)
		}
		sp, np := hooks.At(l, hooks.LN2Scale), hooks.At(l, hooks.LN2Normalized)
		res := capture(t, m, b, hooks.CapturePoints(in, sp, np))
		x, s, n := get(t, res, in), get(t, res, sp), get(t, res, np)
		d := c.DModel
		for i := 0; i < b.Size*b.Len; i++ {
			var mean float64
			if c.LayerNorm {
				for _, v := range x.Data[i*d : (i+1)*d] {
					mean += float64(v)
				}
				mean /= float64(d)
			}
			for e := 0; e < d; e++ {
				want := (float64(x.Data[i*d+e]) - mean) / float64(s.Data[i])
				if math.Abs(want-float64(n.Data[i*d+e])) > 1e-5*(1+math.Abs(want)) {
					t.Fatalf("%s: ln2.hook_normalized %g, (x − mean)/scale %g", name, n.Data[i*d+e], want)
				}
			}
		}
		scaled := func(p hooks.Point, f float32) *Result {
			return capture(t, m, b, hooks.EditPoint(p, func(_ hooks.Point, a *tensor.Tensor) error {
				for i := range a.Data {
					a.Data[i] *= f
				}
				return nil
			}))
		}
		for _, pts := range [][2]hooks.Point{{hooks.At(l, hooks.LN1Scale), hooks.At(l, hooks.LN1Normalized)}, {sp, np}} {
			a, bb := scaled(pts[0], 2), scaled(pts[1], 0.5)
			if dd := maxDiff(a.Logits.Data, bb.Logits.Data); dd > 1e-5 {
				t.Errorf("%s: doubling %v differs from halving %v by %g", name, pts[0], pts[1], dd)
			}
			if maxDiff(a.Logits.Data, capture(t, m, b).Logits.Data) == 0 {
				t.Errorf("%s: editing %v changed nothing", name, pts[0])
			}
		}
	}
}

// TestAttentionHooksWithKVCache: with a KV cache the scores and pattern of the new positions
// cover every cached key ([batch, n_heads, new, past+new]) and equal the full pass's rows.
func TestAttentionHooksWithKVCache(t *testing.T) {
	for name, m := range tinyModels(t) {
		p := prompts[0]
		const split = 4
		pt := hooks.At(1, hooks.AttnPattern)
		full := get(t, forwardOne(t, m, p, hooks.CapturePoints(pt)), pt)
		kv := m.NewKVCache(1, len(p))
		b1, _ := NewBatch([][]int{p[:split]}, PadRight, 0)
		b2, _ := NewBatch([][]int{p[split:]}, PadRight, 0)
		if _, err := m.ForwardKV(b1, kv); err != nil {
			t.Fatal(err)
		}
		res, err := m.ForwardKV(b2, kv, hooks.CapturePoints(pt))
		if err != nil {
			t.Fatal(err)
		}
		got := get(t, res, pt)
		T, n := len(p), len(p)-split
		if fmt.Sprint(got.Shape) != fmt.Sprint([]int{1, m.Config.NHeads, n, T}) {
			t.Fatalf("%s: pattern with a KV cache has shape %v", name, got.Shape)
		}
		for h := 0; h < m.Config.NHeads; h++ {
			for i := 0; i < n; i++ {
				a := got.Data[(h*n+i)*T : (h*n+i+1)*T]
				w := full.Data[(h*T+split+i)*T : (h*T+split+i+1)*T]
				if d := maxDiff(a, w); d > 1e-6 {
					t.Fatalf("%s: cached pattern row differs by %g", name, d)
				}
			}
		}
	}
}
