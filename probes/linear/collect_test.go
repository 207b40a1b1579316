package linear

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/neuronscope/neuronscope/decompose"
	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/modeltest"
)

// TestCollect: the pooled activations (and codes) equal each prompt run alone: its last
// position, or the mean of its positions after the leading BOS.
func TestCollect(t *testing.T) {
	m := modeltest.Tiny(t, "llama", 5)
	prompts := [][]int{{1, 4, 9, 2}, {1, 1, 7}, {3, 8, 8, 8, 5, 6}, {1, 6}}
	pts := []hooks.Point{hooks.At(0, hooks.MLPPost), hooks.At(1, hooks.MLPPre)}
	w := m.Catalog().Width(pts[0])
	rng := rand.New(rand.NewPCG(1, 1))
	f := make([]float32, w*3)
	for i := range f {
		f[i] = float32(max(rng.NormFloat64(), 0))
	}
	codes := SNMFCodes(decompose.NewFeatures(f, w, 3))
	for _, pool := range []Pool{Last, Mean, Max} {
		got, err := Collect(m, prompts, pts, CollectOptions{Pool: pool, BOS: 1, Batch: 3})
		if err != nil {
			t.Fatal(err)
		}
		coded, err := Collect(m, prompts, pts[:1], CollectOptions{Pool: pool, BOS: 1, Codes: map[hooks.Point]Codes{pts[0]: codes}})
		if err != nil {
			t.Fatal(err)
		}
		for i, ids := range prompts {
			b, _ := model.NewBatch([][]int{ids}, model.PadRight, 0)
			res, err := m.Forward(b, hooks.CapturePoints(pts...))
			if err != nil {
				t.Fatal(err)
			}
			lo := len(ids) - 1
			if pool != Last {
				lo = 0
				for lo < len(ids) && ids[lo] == 1 {
					lo++
				}
			}
			for pi, p := range pts {
				a, _ := res.Cache.Get(p)
				rows := a.Data[lo*w : len(ids)*w]
				want := reduce(rows, w, pool)
				for j, v := range want {
					if g := got[pi][i*w+j]; math.Abs(float64(g)-v) > 1e-4*(1+math.Abs(v)) {
						t.Fatalf("%s pool %s prompt %d unit %d: %g, alone %g", p, pool, i, j, g, v)
					}
				}
				if pi == 0 {
					enc := make([]float32, len(rows)/w*3)
					if err := codes.Encode(enc, rows); err != nil {
						t.Fatal(err)
					}
					for j, v := range reduce(enc, 3, pool) {
						if g := coded[0][i*3+j]; math.Abs(float64(g)-v) > 1e-3*(1+math.Abs(v)) {
							t.Fatalf("codes pool %s prompt %d unit %d: %g, alone %g", pool, i, j, g, v)
						}
					}
				}
			}
		}
	}
	mag, err := Collect(m, prompts, pts[:1], CollectOptions{Pool: Mean, BOS: 1, Magnitude: true})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := model.NewBatch([][]int{prompts[2]}, model.PadRight, 0)
	res, _ := m.Forward(b, hooks.CapturePoints(pts[0]))
	a, _ := res.Cache.Get(pts[0])
	for j := range w {
		var s float64
		for t := range len(prompts[2]) {
			s += math.Abs(float64(a.Data[t*w+j]))
		}
		if v := s / float64(len(prompts[2])); math.Abs(float64(mag[0][2*w+j])-v) > 1e-4*(1+v) {
			t.Fatalf("magnitude unit %d: %g, alone %g", j, mag[0][2*w+j], v)
		}
	}
	if _, err := Collect(m, prompts, []hooks.Point{hooks.At(9, hooks.MLPPost)}, CollectOptions{}); err == nil {
		t.Error("a point the model lacks was collected")
	}
	if _, err := Collect(m, [][]int{{1, 1}}, pts, CollectOptions{Pool: Mean, BOS: 1}); err == nil {
		t.Error("a prompt of BOS only was mean-pooled")
	}
	d := make([]float32, w)
	codes.Direction(d, []float64{0, 2, 0})
	for i := range d {
		if d[i] != 2*f[i*3+1] {
			t.Fatalf("direction %d: %g, want 2·F[%d,1] = %g", i, d[i], i, 2*f[i*3+1])
		}
	}
}

// reduce is the column mean (or maximum, for Max) of rows ([n, w]) in float64.
func reduce(rows []float32, w int, pool Pool) []float64 {
	out := make([]float64, w)
	n := len(rows) / w
	for t := range n {
		for j := range w {
			if v := float64(rows[t*w+j]); pool != Max {
				out[j] += v / float64(n)
			} else if t == 0 || v > out[j] {
				out[j] = v
			}
		}
	}
	return out
}

// reluEncoder is a toy SAE encoder: relu(x·W), W [width, units].
type reluEncoder struct {
	w            []float32
	width, units int
}

func (r reluEncoder) Encode(dst, x []float32) []float32 {
	n := len(x) / r.width
	out := make([]float32, n*r.units) // deliberately not dst: the adapter copies
	for i := range n {
		for j := range r.units {
			var s float32
			for k := range r.width {
				s += x[i*r.width+k] * r.w[k*r.units+j]
			}
			out[i*r.units+j] = max(s, 0)
		}
	}
	return out
}

// TestEncoderCodes: the adapter returns the encoder's latents and Σ d_j·dec_j as the
// direction; shapes that do not fit are errors.
func TestEncoderCodes(t *testing.T) {
	e := reluEncoder{w: []float32{1, -1, 0, 2, 1, 1}, width: 2, units: 3}
	dec := []float32{1, 0, 0, 1, 1, 1} // latent 0 → (1,0), 1 → (0,1), 2 → (1,1)
	c := EncoderCodes(e, 2, 3, dec)
	dst := make([]float32, 6)
	if err := c.Encode(dst, []float32{1, 1, 2, -1}); err != nil {
		t.Fatal(err)
	}
	// row (1,1): (1·1+1·2, 1·(-1)+1·1, 0+1) = (3, 0, 1); row (2,-1): (2-2, -2-1, 0-1) → (0, 0, 0)
	if want := []float32{3, 0, 1, 0, 0, 0}; !slices.Equal(dst, want) {
		t.Errorf("latents %v, want %v", dst, want)
	}
	dir := make([]float32, 2)
	c.Direction(dir, []float64{2, 0, -1})
	if want := []float32{1, -1}; !slices.Equal(dir, want) {
		t.Errorf("direction %v, want %v", dir, want)
	}
	if err := c.Encode(make([]float32, 3), []float32{1, 1, 2, -1}); err == nil {
		t.Error("a short dst: no error")
	}
}
