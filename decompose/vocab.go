package decompose

import (
	"fmt"
	"math"

	"github.com/neuronscope/neuronscope/attribute"
	"github.com/neuronscope/neuronscope/model"
	"gonum.org/v1/gonum/blas"
)

// VocabToken is one vocabulary entry of a feature's projection and its logit.
type VocabToken struct {
	ID    int     `json:"token_id"`
	Token string  `json:"token,omitempty"`
	Logit float32 `json:"logit"`
}

// VocabProjection is a feature's projection to the vocabulary: the K highest logits of
// unembed(ln_final(W_out z)) for the unit feature z = F_j/‖F_j‖ (Top), and of the same for
// −z (Negated: what the published code lists for steering sign −1); for a model with a
// post-feed-forward norm (Gemma 2/3), of unembed(±ln_final(ln2_post(W_out F_j + b_out)))
// (see ProjectVocab). Both are nil for an all-zero feature.
type VocabProjection struct {
	Top     []VocabToken `json:"top"`
	Negated []VocabToken `json:"negated"`
}

// ProjectVocab computes every feature's VocabProjection through layer's MLP output weight,
// the model's final norm and its unembedding, as the published generate_vocab_proj.py does
// (Shafran et al. 2025; TransformerLens's model.ln_final and model.unembed):
//
//	y = W_out z                      (no b_out)            [d_model]
//	logits = W_U · ln_final(y)                             [d_vocab]
//
// ln_final is the whole final norm the model applies to its residual stream — centring (LayerNorm),
// division by sqrt(var + eps) or sqrt(mean(y²) + eps), the weight (1 + weight for Gemma) and
// the bias — computed like the model's own (float64 statistics, float32 divisor). The bias
// and eps make the result depend on the scale of y, which is why z is unit-norm. f is F
// [d_mlp, rank]; k tokens are kept per list (ties go to the lower id). A layer out of range or
// an F of the wrong width is an error.
//
// A model whose MLP output passes through a post-feed-forward norm before it joins the
// residual stream (Gemma 2/3, model.MLPWeights.PostNorm) takes the published code's Gemma
// branch (get_concept_vector_gemma, get_vocab_proj_gemma), which sends the feature through
// that norm first, as the model does:
//
//	y = ln2_post(W_out F_j + b_out)          (F_j as fitted, not unit-norm; b_out none for Gemma)
//	logits = W_U · ln_final(±y)
//
// ln2_post is the RMSNorm y/sqrt(mean(y²) + eps)·(1 + γ_post), computed like the model's own.
// Both norms divide out the scale of F_j up to eps, so only the eps terms depend on it. The
// logits are the unembedding's, before any final soft-cap (Gemma 2's cap·tanh(x/cap), which
// TransformerLens's unembed and HF's lm_head leave out too; it keeps the ranking).
func ProjectVocab(m *model.Model, layer int, f []float32, dMLP, rank, k int) ([]VocabProjection, error) {
	c := m.Config
	if layer < 0 || layer >= c.NLayers {
		return nil, fmt.Errorf("decompose: layer %d is out of range: the model has layers 0..%d", layer, c.NLayers-1)
	}
	if dMLP != c.DMLP {
		return nil, fmt.Errorf("decompose: features have d_mlp %d, the model's MLP has %d", dMLP, c.DMLP)
	}
	if len(f) != dMLP*rank || k < 1 {
		return nil, fmt.Errorf("decompose: ProjectVocab given %d values for [%d, %d] and k %d", len(f), dMLP, rank, k)
	}
	d, v := c.DModel, c.DVocab
	k = min(k, v)
	w := m.MLP(layer)
	z := make([]float32, rank*dMLP) // [rank, d_mlp] unit features (as fitted behind a post-norm)
	zero := make([]bool, rank)
	for j := 0; j < rank; j++ {
		var ss float64
		for i := 0; i < dMLP; i++ {
			ss += float64(f[i*rank+j]) * float64(f[i*rank+j])
		}
		if ss == 0 {
			zero[j] = true
			continue
		}
		norm := float32(math.Sqrt(ss))
		if w.PostNorm != nil {
			norm = 1
		}
		for i := 0; i < dMLP; i++ {
			z[j*dMLP+i] = f[i*rank+j] / norm
		}
	}
	out := w.Out
	y := make([]float32, 2*rank*d) // rows 0..rank-1: W_out z_j; rows rank..: −W_out z_j
	if out.InOut {                 // GPT-2 Conv1D c_proj: [d_mlp, d_model]
		gemm(true, blas.NoTrans, blas.NoTrans, rank, d, dMLP, 1, z, dMLP, out.Data, d, 0, y, d)
	} else { // nn.Linear down_proj: [d_model, d_mlp]
		gemm(true, blas.NoTrans, blas.Trans, rank, d, dMLP, 1, z, dMLP, out.Data, dMLP, 0, y, d)
	}
	if w.PostNorm != nil {
		postNorm(y[:rank*d], w, c)
	}
	for i := 0; i < rank*d; i++ {
		y[rank*d+i] = -y[i]
	}
	m.ApplyFinalNorm(y, y, 2*rank)
	wu := m.Unembedding() // [d_vocab, d_model]
	res := make([]VocabProjection, rank)
	chunk := max(1, min(2*rank, (64<<20)/(4*v)))
	scores := make([]float32, chunk*v)
	for lo := 0; lo < 2*rank; lo += chunk {
		hi := min(lo+chunk, 2*rank)
		gemm(true, blas.NoTrans, blas.Trans, hi-lo, v, d, 1, y[lo*d:hi*d], d, wu.Data, d, 0, scores, v)
		for r := lo; r < hi; r++ {
			j := r % rank
			if zero[j] {
				continue
			}
			top := topLogits(scores[(r-lo)*v:(r-lo+1)*v], k)
			if r < rank {
				res[j].Top = top
			} else {
				res[j].Negated = top
			}
		}
	}
	return res, nil
}

// postNorm adds b_out to each row of y [rows, d_model] and applies the layer's
// post-feed-forward RMSNorm in place, as the model's forward pass computes it: float64 sum of
// squares, the divisor sqrt(mean + eps) rounded to float32, then x/s·(1 + γ) (γ with
// Config.NormPlusOne off).
func postNorm(y []float32, w model.MLPWeights, c *model.Config) {
	d := c.DModel
	for off := 0; off < len(y); off += d {
		row := y[off : off+d]
		if w.OutBias != nil {
			for i, b := range w.OutBias.Data {
				row[i] += b
			}
		}
		var ss float64
		for _, x := range row {
			ss += float64(x) * float64(x)
		}
		s := float64(float32(math.Sqrt(ss/float64(d) + c.NormEps)))
		for i, x := range row {
			g := w.PostNorm.Data[i]
			if c.NormPlusOne {
				g++
			}
			row[i] = float32(float64(x)/s) * g
		}
	}
}

// topLogits returns the k largest scores (largest first; ties to the lower id; NaN never).
func topLogits(scores []float32, k int) []VocabToken {
	top, _ := attribute.TopTokens(scores, k)
	out := make([]VocabToken, len(top))
	for i, t := range top {
		out[i] = VocabToken{ID: t.ID, Logit: t.Score}
	}
	return out
}
