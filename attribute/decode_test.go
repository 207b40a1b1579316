package attribute

import (
	"errors"
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/internal/linalg"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/modeltest"
)

// decodeBruteForce scores one vector against every vocabulary row in float64, one dot product per
// token, and returns the scores and the ids sorted by score (descending, ties by id). postNorm
// (nil: none) is the weight of a post-feed-forward norm the vector passes through before it
// joins the residual stream (a write direction of Gemma 2/3): with normWeight the vector is
// multiplied by its 1 + γ_post first, as DecodeOptions.NormWeight documents.
func decodeBruteForce(m *model.Model, vec []float32, normWeight bool, postNorm *model.Param) ([]float64, []int) {
	c := m.Config
	v := make([]float64, len(vec))
	for j, x := range vec {
		v[j] = float64(x)
		if normWeight && postNorm != nil {
			v[j] *= 1 + float64(postNorm.Data[j])
		}
	}
	var mean float64
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	if normWeight {
		g, _ := m.FinalNorm()
		for j := range v {
			if c.LayerNorm {
				v[j] -= mean
			}
			gj := float64(g.Data[j])
			if c.NormPlusOne {
				gj++
			}
			v[j] *= gj
		}
	}
	wu := m.Unembedding()
	scores := make([]float64, c.DVocab)
	ids := make([]int, c.DVocab)
	for t := range scores {
		scores[t] = dlaDot(wu.Row(t), v)
		ids[t] = t
	}
	sort.SliceStable(ids, func(a, b int) bool { return scores[ids[a]] > scores[ids[b]] })
	return scores, ids
}

// decodeCheckList compares a decoded list with the brute-force ranking (ascending for a bottom
// list). A different id at some rank is accepted only for a near-tie.
func decodeCheckList(t *testing.T, what string, got []DecodedToken, scores []float64, ranked []int, k int) {
	t.Helper()
	if len(got) != k {
		t.Fatalf("%s: %d tokens, want %d", what, len(got), k)
	}
	for r, g := range got {
		want := ranked[r]
		tol := 1e-4 * (1 + math.Abs(scores[want]))
		if math.Abs(float64(g.Score)-scores[want]) > tol {
			t.Fatalf("%s rank %d: score %.6g, brute force %.6g (token %d)", what, r, g.Score, scores[want], want)
		}
		if g.ID != want && math.Abs(scores[g.ID]-scores[want]) > tol {
			t.Fatalf("%s rank %d: token %d (%.6g), brute force token %d (%.6g)", what, r, g.ID, scores[g.ID], want, scores[want])
		}
	}
}

func TestDecodeMatchesBruteForce(t *testing.T) {
	names, models := dlaTinyModels(t, true)
	for _, name := range names {
		m := models[name]
		c := m.Config
		for _, tc := range []struct {
			k, chunk int
			norm     bool
		}{{5, 0, true}, {3, 7, false}, {c.DVocab + 10, 0, true}} {
			got, err := DecodeNeurons(m, DecodeOptions{K: tc.k, NormWeight: tc.norm, ChunkSize: tc.chunk})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != c.NLayers*c.DMLP {
				t.Fatalf("%s: %d decodings, want %d", name, len(got), c.NLayers*c.DMLP)
			}
			k := min(tc.k, c.DVocab)
			vec := make([]float32, c.DModel)
			for n, nd := range got {
				l, i := n/c.DMLP, n%c.DMLP
				if nd.Layer != l || nd.Index != i {
					t.Fatalf("%s: entry %d is layer %d neuron %d", name, n, nd.Layer, nd.Index)
				}
				w := m.MLP(l)
				type dirLists struct {
					what        string
					get         func([]float32, int)
					top, bottom []DecodedToken
					postNorm    *model.Param
				}
				if (w.PostNorm != nil) != c.SandwichNorm {
					t.Fatalf("%s: post-norm weight %v with SandwichNorm %v", name, w.PostNorm != nil, c.SandwichNorm)
				}
				lists := []dirLists{{"read", w.ReadDirection, nd.ReadTop, nd.ReadBottom, nil}, {"write", w.WriteDirection, nd.WriteTop, nd.WriteBottom, w.PostNorm}}
				if c.Gated {
					lists = append(lists, dirLists{"up", w.UpDirection, nd.UpTop, nd.UpBottom, nil})
				} else if nd.UpTop != nil || nd.UpBottom != nil {
					t.Fatalf("%s: up lists on an ungated MLP", name)
				}
				for _, dl := range lists {
					dl.get(vec, i)
					scores, ranked := decodeBruteForce(m, vec, tc.norm, dl.postNorm)
					asc := append([]int(nil), ranked...)
					sort.SliceStable(asc, func(a, b int) bool { return scores[asc[a]] < scores[asc[b]] })
					what := name + " " + dl.what
					decodeCheckList(t, what+" top", dl.top, scores, ranked, k)
					decodeCheckList(t, what+" bottom", dl.bottom, scores, asc, k)
				}
			}
		}
	}
}

// TestDecodeWriteIsDLAPerUnit: with NormWeight, a write direction's score is the neuron's
// direct logit attribution per unit activation: on every architecture, at a position where
// neuron i has activation a, DirectLogit's DLA_i for token t equals a·score_t/(s·s_post)
// (s_post = 1 without a post-feed-forward norm).
func TestDecodeWriteIsDLAPerUnit(t *testing.T) {
	names, models := dlaTinyModels(t, true)
	b, _ := model.NewBatch(dlaPrompts, model.PadRight, 0)
	row, pos := 0, 4
	for _, name := range names {
		m := models[name]
		c := m.Config
		dec, err := DecodeNeurons(m, DecodeOptions{K: c.DVocab, NormWeight: true, Directions: []DecodeDirection{DecodeWrite}})
		if err != nil {
			t.Fatal(err)
		}
		layers, _ := dlaLayers(m, nil)
		res, err := m.Forward(b, hooks.CapturePoints(DLAPoints(layers)...))
		if err != nil {
			t.Fatal(err)
		}
		for _, tok := range []int{0, 33, c.DVocab - 1} {
			dla, err := DirectLogitFromResult(m, b, res, row, pos, []int{tok}, nil)
			if err != nil {
				t.Fatal(err)
			}
			post := 1.0
			for _, ld := range dla.Layers {
				if ld.PostScale != 0 {
					post = float64(ld.PostScale)
				}
				act, _ := res.Cache.Get(hooks.At(ld.Layer, hooks.MLPPost))
				for _, i := range []int{1, c.DMLP / 2} {
					score := math.NaN()
					for _, dt := range dec[ld.Layer*c.DMLP+i].WriteTop {
						if dt.ID == tok {
							score = float64(dt.Score)
						}
					}
					want := float64(act.At(row, pos, i)) * score / (float64(dla.Scale) * post)
					if got := float64(ld.Neurons[i]); math.Abs(got-want) > 1e-4*(math.Abs(want)+1e-2) {
						t.Errorf("%s layer %d neuron %d token %d: DLA %.7g, activation × decode score / scales %.7g", name, ld.Layer, i, tok, got, want)
					}
				}
			}
		}
	}
}

func TestDecodeOptions(t *testing.T) {
	_, models := dlaTinyModels(t, false)
	m := models["llama"]
	c := m.Config
	var calls, lastDone, lastTotal int
	got, err := DecodeNeurons(m, DecodeOptions{K: 2, Layers: []int{1}, Directions: []DecodeDirection{DecodeUp}, ChunkSize: 10,
		Progress: func(done, total int) { calls, lastDone, lastTotal = calls+1, done, total }})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != c.DMLP || got[0].Layer != 1 || got[0].UpTop == nil || got[0].ReadTop != nil || got[0].WriteBottom != nil {
		t.Fatalf("unexpected decodings: %d, first %+v", len(got), got[0])
	}
	if calls != (c.DMLP+9)/10 || lastDone != c.DMLP || lastTotal != c.DMLP {
		t.Errorf("progress: %d calls, last %d/%d", calls, lastDone, lastTotal)
	}
	// Layer by layer through the callback, and a callback error stops the run.
	stop := errors.New("stop")
	layers := 0
	err = DecodeNeuronsFunc(m, DecodeOptions{K: 1}, func(l []NeuronDecoding) error {
		layers++
		if len(l) != c.DMLP {
			t.Errorf("layer of %d decodings", len(l))
		}
		return stop
	})
	if err != stop || layers != 1 {
		t.Errorf("callback error: got %v after %d layers", err, layers)
	}
	for _, bad := range []DecodeOptions{
		{K: 0}, {K: -1}, {K: 3, Layers: []int{2}}, {K: 3, Layers: []int{-1}},
		{K: 3, Directions: []DecodeDirection{DecodeWrite, DecodeWrite}}, {K: 3, Directions: []DecodeDirection{7}},
	} {
		if _, err := DecodeNeurons(m, bad); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
	if _, err := DecodeNeurons(models["gpt2"], DecodeOptions{K: 3, Directions: []DecodeDirection{DecodeUp}}); err == nil {
		t.Error("up direction of GPT-2: no error")
	}
}

func TestTokenSelectorTies(t *testing.T) {
	sel := newTokenSelector(3)
	nan := float32(math.NaN())
	top, bottom := sel.scan([]float32{nan, 1, 5, 5, 0, 5, 1, -2, nan})
	want := []DecodedToken{{2, 5}, {3, 5}, {5, 5}}
	wantB := []DecodedToken{{7, -2}, {4, 0}, {1, 1}}
	for i := range want {
		if top[i] != want[i] || bottom[i] != wantB[i] {
			t.Fatalf("top %v bottom %v, want %v and %v", top, bottom, want, wantB)
		}
	}
	top, bottom = sel.scan([]float32{nan, 2})
	if len(top) != 1 || top[0] != (DecodedToken{1, 2}) || len(bottom) != 1 {
		t.Fatalf("short row: %v %v", top, bottom)
	}
}

// BenchmarkDecodeGPT2Small maps every neuron of a GPT-2-small-shaped model (random weights):
// 12 layers × 3072 neurons, read and write directions, through the 50257-token unembedding,
// top and bottom 10 tokens each, with the final norm weight.
func BenchmarkDecodeGPT2Small(b *testing.B) {
	m := modeltest.GPT2Small(b)
	cfg := m.Config
	vectors := 2 * cfg.NLayers * cfg.DMLP
	flops := 2 * float64(vectors) * float64(cfg.DVocab) * float64(cfg.DModel)
	b.ResetTimer()
	t0 := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := DecodeNeurons(m, DecodeOptions{K: 10, NormWeight: true}); err != nil {
			b.Fatal(err)
		}
	}
	sec := time.Since(t0).Seconds() / float64(b.N)
	b.ReportMetric(sec, "s/model")
	b.ReportMetric(flops/sec/1e9, "GFLOP/s")
	b.Logf("%s BLAS: %d vectors of GPT-2 small decoded in %.2f s (%.0f GFLOP/s)", linalg.Backend(), vectors, sec, flops/sec/1e9)
}

// BenchmarkDecodeGPT2SmallLayer is one layer of BenchmarkDecodeGPT2Small (a twelfth of it).
func BenchmarkDecodeGPT2SmallLayer(b *testing.B) {
	m := modeltest.GPT2Small(b)
	b.ResetTimer()
	t0 := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := DecodeNeurons(m, DecodeOptions{K: 10, NormWeight: true, Layers: []int{5}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(time.Since(t0).Seconds()/float64(b.N), "s/layer")
}

// TestDecodeReportNotes: the report states what the scores are on every architecture: the
// post-feed-forward norm's weight on write directions where the model has one (naming the
// tensor), and logits before the final soft-cap where there is one; and it holds the same
// lists as DecodeNeurons.
func TestDecodeReportNotes(t *testing.T) {
	for _, name := range modeltest.TinyNames() {
		m := modeltest.Tiny(t, name, 2)
		c := m.Config
		rep, err := Decode(m, DecodeOptions{K: 2, NormWeight: true, Layers: []int{1}}, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		write := rep.Directions["write"]
		if c.SandwichNorm != strings.Contains(write, "model.layers.L.post_feedforward_layernorm.weight") ||
			c.SandwichNorm != strings.Contains(rep.Score, "post-feed-forward norm's weight") {
			t.Errorf("%s: write %q, score %q", name, write, rep.Score)
		}
		if (c.FinalSoftcap > 0) != strings.Contains(rep.Score, "before the final soft-cap") {
			t.Errorf("%s: score %q with soft-cap %g", name, rep.Score, c.FinalSoftcap)
		}
		dec, err := DecodeNeurons(m, DecodeOptions{K: 2, NormWeight: true, Layers: []int{1}})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Layers) != 1 || len(rep.Layers[0].Neurons) != len(dec) {
			t.Fatalf("%s: report layers %d", name, len(rep.Layers))
		}
		for i, n := range rep.Layers[0].Neurons {
			for r, tok := range n.WriteTop {
				if tok.ID != dec[i].WriteTop[r].ID || tok.Score != dec[i].WriteTop[r].Score {
					t.Fatalf("%s neuron %d: report %+v, DecodeNeurons %+v", name, i, tok, dec[i].WriteTop[r])
				}
			}
		}
	}
}
