package decompose

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/modeltest"
	"github.com/neuronscope/neuronscope/model/tensor"
)

// TestProjectVocabIsTheModelsOwnReadout: each feature's vocabulary projection equals the
// logits the model itself produces when the last block's residual output is replaced by what
// the feature writes, ±W_out z (z = F_j/‖F_j‖): the same final norm (with its bias and eps) and
// unembedding, for a GPT-2 (Conv1D, LayerNorm), a Llama (nn.Linear, RMSNorm) and the tiny
// random model of every architecture. Behind Gemma 2/3's post-feed-forward norm the feature
// writes ±ln2_post(W_out F_j) instead (computed here by hand in float64 from the weights), and
// the model's logits are soft-capped: the projection's logits are the ones before the cap, so
// they are compared after applying cap·tanh(x/cap).
func TestProjectVocabIsTheModelsOwnReadout(t *testing.T) {
	type namedModel struct {
		name string
		load func() *model.Model
	}
	var models []namedModel
	for _, dir := range []string{"../testdata/world-gpt2", "../testdata/tiny-llama"} {
		models = append(models, namedModel{dir, func() *model.Model {
			m, err := model.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			return m
		}})
	}
	for _, name := range modeltest.TinyNames() {
		models = append(models, namedModel{name, func() *model.Model { return modeltest.Tiny(t, name, 5) }})
	}
	for _, nm := range models {
		dir := nm.name
		m := nm.load()
		c := m.Config
		const rank = 3
		layer := c.NLayers / 2
		r := rand.New(rand.NewPCG(31, 31))
		f := make([]float32, c.DMLP*rank)
		for i := range f {
			if r.IntN(10) == 0 {
				f[i] = float32(r.NormFloat64())
			}
		}
		proj, err := ProjectVocab(m, layer, f, c.DMLP, rank, c.DVocab)
		if err != nil {
			t.Fatal(err)
		}
		w := m.MLP(layer)
		dir1 := make([]float32, c.DModel)
		for j := 0; j < rank; j++ {
			var norm float64
			for i := 0; i < c.DMLP; i++ {
				norm += float64(f[i*rank+j]) * float64(f[i*rank+j])
			}
			y := make([]float64, c.DModel)
			for i := 0; i < c.DMLP; i++ {
				if v := f[i*rank+j]; v != 0 {
					w.WriteDirection(dir1, i)
					for a := range y {
						y[a] += float64(v) / math.Sqrt(norm) * float64(dir1[a])
					}
				}
			}
			if w.PostNorm != nil { // ln2_post(W_out F_j): the unit norm of z divides out, up to eps
				var ss float64
				for a := range y {
					y[a] *= math.Sqrt(norm)
					ss += y[a] * y[a]
				}
				s := math.Sqrt(ss/float64(c.DModel) + c.NormEps)
				for a := range y {
					y[a] *= (1 + float64(w.PostNorm.Data[a])) / s
				}
			}
			for sign, list := range map[float64][]VocabToken{1: proj[j].Top, -1: proj[j].Negated} {
				want := readout(t, m, y, sign)
				if len(list) != c.DVocab {
					t.Fatalf("%s: %d tokens, want the whole vocabulary %d", dir, len(list), c.DVocab)
				}
				var scale float64
				for _, v := range want {
					scale = max(scale, math.Abs(float64(v)))
				}
				for rank, tok := range list {
					got := float64(tok.Logit)
					if cp := c.FinalSoftcap; cp > 0 {
						got = cp * math.Tanh(got/cp)
					}
					if math.Abs(got-float64(want[tok.ID])) > 2e-5*scale {
						t.Fatalf("%s feature %d sign %v: token %d logit %v (capped %v), the model gives %v", dir, j, sign, tok.ID, tok.Logit, got, want[tok.ID])
					}
					if rank > 0 && list[rank-1].Logit < tok.Logit {
						t.Fatalf("%s: list not sorted at %d", dir, rank)
					}
				}
			}
		}
		m.Close()
	}
}

// readout runs the model on one token with the last block's residual output replaced by
// sign·y and returns the logits.
func readout(t *testing.T, m *model.Model, y []float64, sign float64) []float32 {
	t.Helper()
	b, err := model.NewBatch([][]int{{1}}, model.PadRight, 0)
	if err != nil {
		t.Fatal(err)
	}
	last := hooks.At(m.Config.NLayers-1, hooks.ResidPost)
	res, err := m.Forward(b, hooks.EditPoint(last, func(_ hooks.Point, act *tensor.Tensor) error {
		for i := range act.Data {
			act.Data[i] = float32(sign * y[i])
		}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	return res.Logits.Data
}

func TestProjectVocabErrors(t *testing.T) {
	m, err := model.Load("../testdata/tiny-llama")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	f := make([]float32, m.Config.DMLP*2)
	if _, err := ProjectVocab(m, m.Config.NLayers, f, m.Config.DMLP, 2, 5); err == nil {
		t.Error("layer out of range accepted")
	}
	if _, err := ProjectVocab(m, 0, f[:10], 5, 2, 5); err == nil {
		t.Error("wrong d_mlp accepted")
	}
	p, err := ProjectVocab(m, 0, f, m.Config.DMLP, 2, 5)
	if err != nil || p[0].Top != nil || p[1].Negated != nil {
		t.Errorf("zero features: %v %+v", err, p)
	}
}
