package ablate

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/modeltest"
	"github.com/neuronscope/neuronscope/model/tensor"
	"github.com/neuronscope/neuronscope/sae"
)

// unitRun runs seqs through m with iv and returns mlp.hook_post of layer 1 as the rest of the
// pass sees it, [real tokens, d_mlp].
func unitRun(t *testing.T, m *model.Model, seqs [][]int, iv Intervention) []float32 {
	t.Helper()
	var out []float32
	p := hooks.At(1, hooks.MLPPost)
	err := forEachBatch(seqs, nil, 8, func(b *Batch) error {
		var opts []hooks.Option
		if iv != nil {
			o, err := iv.Hooks(b)
			if err != nil {
				return err
			}
			opts = o
		}
		opts = append(opts, hooks.ObservePoint(p, func(_ hooks.Point, a *tensor.Tensor) error {
			w := len(a.Data) / len(b.Mask)
			for i, real := range b.Mask {
				if real {
					out = append(out, a.Data[i*w:(i+1)*w]...)
				}
			}
			return nil
		}))
		_, err := m.Forward(b.Batch, opts...)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestFeatureProjection: zero-ablating SNMF features projects their span out of mlp.hook_post
// (the activation is then orthogonal to every F_j, and the rest of it is unchanged); scaling by
// 1 changes nothing.
func TestFeatureProjection(t *testing.T) {
	m := modeltest.Tiny(t, "llama", 7)
	d := m.Config.DMLP
	rng := rand.New(rand.NewPCG(1, 2))
	const k = 4
	f := make([]float32, d*k)
	for i := range f {
		if rng.IntN(3) == 0 {
			f[i] = float32(rng.NormFloat64())
		}
	}
	units := hooks.At(1, hooks.MLPPostSNMF)
	dec := &Decompositions{Features: map[hooks.Point]*FeatureBasis{units: {F: f, DMLP: d, Rank: k}}, Catalog: m.Catalog()}
	seqs := [][]int{{3, 14, 15, 9}, {26, 5}, {35, 8, 7}}
	clean := unitRun(t, m, seqs, nil)
	iv, err := dec.Intervention(IvZero, []hooks.Neuron{{Point: units, Index: 0}, {Point: units, Index: 2}}, 0, 0, AllPositions)
	if err != nil {
		t.Fatal(err)
	}
	if ps := iv.Points(); len(ps) != 1 || ps[0] != hooks.At(1, hooks.MLPPost) {
		t.Fatalf("points %v", ps)
	}
	got := unitRun(t, m, seqs, iv)
	// Reference in float64: x − P x with P the projection onto span{F_0, F_2} (normal equations).
	col := func(j int) []float64 {
		v := make([]float64, d)
		for i := range d {
			v[i] = float64(f[i*k+j])
		}
		return v
	}
	a, b := col(0), col(2)
	dot := func(x, y []float64) float64 {
		var s float64
		for i := range x {
			s += x[i] * y[i]
		}
		return s
	}
	g := [2][2]float64{{dot(a, a), dot(a, b)}, {dot(b, a), dot(b, b)}}
	det := g[0][0]*g[1][1] - g[0][1]*g[1][0]
	for r := 0; r < len(clean)/d; r++ {
		x := make([]float64, d)
		for i := range d {
			x[i] = float64(clean[r*d+i])
		}
		ua, ub := dot(x, a), dot(x, b)
		ca := (g[1][1]*ua - g[0][1]*ub) / det
		cb := (g[0][0]*ub - g[1][0]*ua) / det
		var nx float64
		for i := range d {
			nx += x[i] * x[i]
		}
		for i := range d {
			want := x[i] - ca*a[i] - cb*b[i]
			if math.Abs(float64(got[r*d+i])-want) > 1e-4*(1+math.Sqrt(nx)) {
				t.Fatalf("row %d unit %d: %g, want %g", r, i, got[r*d+i], want)
			}
		}
	}
	same, err := dec.Intervention(IvScale, []hooks.Neuron{{Point: units, Index: 1}}, 0, 1, AllPositions)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range unitRun(t, m, seqs, same) {
		if math.Abs(float64(v-clean[i])) > 1e-5 {
			t.Fatalf("scale ×1 changed value %d: %g vs %g", i, v, clean[i])
		}
	}
	if _, err := dec.Intervention(IvClamp, []hooks.Neuron{{Point: units, Index: 1}}, 1, 0, AllPositions); err == nil {
		t.Error("clamping a feature was accepted")
	}
	if _, err := dec.Intervention(IvZero, []hooks.Neuron{{Point: units, Index: 4}}, 0, 0, AllPositions); err == nil {
		t.Error("feature 4 of 4 was accepted")
	}
}

// TestLatentEdit: zeroing an SAE latent through the splice with its error term moves the
// activation by exactly −z_j·W_dec[j]; scaling by 1 changes nothing.
func TestLatentEdit(t *testing.T) {
	m := modeltest.Tiny(t, "llama", 7)
	d := m.Config.DMLP
	const ds = 16
	s := sae.New(sae.Standard, d, ds, 0)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range s.WEnc {
		s.WEnc[i] = float32(rng.NormFloat64()) * 0.3
		s.WDec[i] = float32(rng.NormFloat64()) * 0.3
	}
	s.HookName, s.HookLayer = "blocks.1.mlp.hook_post", 1
	units := hooks.At(1, hooks.MLPPostSAE)
	dec := &Decompositions{SAEs: map[hooks.Point]*sae.SAE{units: s}, Catalog: m.Catalog()}
	seqs := [][]int{{3, 14, 15, 9}, {26, 5, 11}}
	clean := unitRun(t, m, seqs, nil)
	same, err := dec.Intervention(IvScale, []hooks.Neuron{{Point: units, Index: 3}}, 0, 1, AllPositions)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range unitRun(t, m, seqs, same) {
		if math.Abs(float64(v-clean[i])) > 1e-5*(1+math.Abs(float64(clean[i]))) {
			t.Fatalf("scale ×1 changed value %d: %g vs %g", i, v, clean[i])
		}
	}
	const j = 3
	iv, err := dec.Intervention(IvZero, []hooks.Neuron{{Point: units, Index: j}}, 0, 0, AllPositions)
	if err != nil {
		t.Fatal(err)
	}
	got := unitRun(t, m, seqs, iv)
	z := s.Encode(nil, clean)
	moved := 0
	for r := 0; r < len(clean)/d; r++ {
		if z[r*ds+j] != 0 {
			moved++
		}
		for i := range d {
			want := clean[r*d+i] - z[r*ds+j]*s.WDec[j*d+i]
			if math.Abs(float64(got[r*d+i]-want)) > 1e-4*(1+math.Abs(float64(want))) {
				t.Fatalf("row %d unit %d: %g, want %g", r, i, got[r*d+i], want)
			}
		}
	}
	if moved == 0 {
		t.Fatal("latent 3 never fires: the test checks nothing")
	}
	if _, err := dec.Intervention(IvZero, []hooks.Neuron{{Point: units, Index: j}}, 0, 0, LastPosition); err == nil {
		t.Error("a latent edit at the last position only was accepted")
	}
}

// TestUnitDirections: a feature's direction is its column of F, a latent's its decoder row;
// indices out of range are errors.
func TestUnitDirections(t *testing.T) {
	p := hooks.At(1, hooks.MLPPost)
	fb := &FeatureBasis{F: []float32{1, 2, 3, 4, 5, 6}, DMLP: 3, Rank: 2, Name: "f"}
	d, err := fb.Direction(p, 1)
	if err != nil || len(d.Parts) != 1 || d.Parts[0].Point != p || d.Parts[0].Vector[0] != 2 || d.Parts[0].Vector[1] != 4 || d.Parts[0].Vector[2] != 6 {
		t.Errorf("feature 1: %+v %v", d, err)
	}
	if _, err := fb.Direction(p, 2); err == nil {
		t.Error("feature 2 of 2 was accepted")
	}
	s := sae.New(sae.TopK, 3, 2, 1)
	copy(s.WDec, []float32{1, 0, 0, 0, 7, 8})
	if d, err := LatentDirection(s, p, 1); err != nil || d.Parts[0].Vector[1] != 7 || d.Parts[0].Vector[2] != 8 {
		t.Errorf("latent 1: %+v %v", d, err)
	}
	if _, err := LatentDirection(s, p, -1); err == nil {
		t.Error("latent -1 was accepted")
	}
}
