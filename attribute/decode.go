package attribute

import (
	"fmt"
	"runtime"
	"sort"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/internal/linalg"
	"github.com/neuronscope/neuronscope/model"
	"gonum.org/v1/gonum/blas"
)

// DecodeDirection names which weight vector of a neuron DecodeNeurons projects through the
// unembedding.
type DecodeDirection int

const (
	// DecodeRead is the neuron's read direction: row i of gate_proj (gated MLPs) or of W_in
	// (column i of GPT-2's Conv1D c_fc), the d_model vector whose dot product with the normed
	// residual stream is mlp.hook_pre[i].
	DecodeRead DecodeDirection = iota
	// DecodeUp is row i of up_proj (gated MLPs only; mlp.hook_pre_linear[i]). This is the
	// vector Davies (2025) decodes.
	DecodeUp
	// DecodeWrite is the neuron's write direction: column i of down_proj/W_out (row i of
	// Conv1D c_proj), what the neuron adds to the MLP output per unit of mlp.hook_post[i]
	// (the "value vector" of Geva et al. 2022), and so to the residual stream, except behind
	// Gemma 2/3's post-feed-forward norm (see DecodeOptions.NormWeight).
	DecodeWrite
)

// String names the direction: "read", "up" or "write".
func (d DecodeDirection) String() string {
	switch d {
	case DecodeRead:
		return "read"
	case DecodeUp:
		return "up"
	case DecodeWrite:
		return "write"
	}
	return fmt.Sprintf("DecodeDirection(%d)", int(d))
}

// DecodeOptions configure DecodeNeurons.
type DecodeOptions struct {
	// K is the number of tokens kept in each top and bottom list; it must be positive (values
	// above d_vocab keep the whole vocabulary).
	K int
	// Layers to decode; nil decodes every layer.
	Layers []int
	// Directions to decode; nil decodes DecodeRead, DecodeUp (gated MLPs) and DecodeWrite.
	Directions []DecodeDirection
	// NormWeight sends each vector through the linear part of the final norm before the
	// unembedding: multiply by the norm weight γ (Gemma: 1 + γ), after centering it (subtracting
	// its mean over d_model) for LayerNorm models. A write direction behind a
	// post-feed-forward norm (Gemma 2/3, model.MLPWeights.PostNorm) is first multiplied by that
	// norm's weight 1 + γ_post, so that it is what the neuron adds to the residual stream up to
	// the norm's positive per-position divisor. Without NormWeight the raw vector is decoded.
	NormWeight bool
	// ChunkSize is the number of vectors per GEMM; 0 picks one from GOMAXPROCS and d_vocab.
	ChunkSize int
	// Progress, if set, is called after every chunk with the number of vectors decoded so far
	// and the total (len(Layers) · len(Directions) · d_mlp).
	Progress func(done, total int)
}

// DecodedToken is one vocabulary entry and its score.
type DecodedToken struct {
	ID    int     `json:"token_id"`
	Score float32 `json:"score"`
}

// NeuronDecoding is the LM-head decoding of one neuron: for each decoded direction, the K
// tokens with the largest score (largest first) and the K with the smallest (smallest first).
// Lists of directions that were not decoded are nil.
type NeuronDecoding struct {
	hooks.Neuron          // blocks.L.mlp.hook_post[i]: the neuron whose weights are decoded
	ReadTop, ReadBottom   []DecodedToken
	UpTop, UpBottom       []DecodedToken
	WriteTop, WriteBottom []DecodedToken
}

// DecodeNeurons projects neuron weight vectors through the unembedding ("LM-head decoding",
// Davies 2025; the logit lens on weights, Geva et al. 2022) and keeps each vector's top-K and
// bottom-K tokens. For neuron i of layer l and a direction v (see DecodeDirection) the score of
// token t is
//
//	score_t = W_U[t] · v                          (NormWeight false)
//	score_t = W_U[t] · (g ⊙ P v)                  (NormWeight true)
//	score_t = W_U[t] · (g ⊙ P (g_post ⊙ v))       (NormWeight true, write direction, Gemma 2/3)
//
// with W_U the unembedding [d_vocab, d_model], g the final norm weight γ (Gemma: 1 + γ), P
// the centering v ↦ v − mean(v) for LayerNorm models (identity for RMSNorm), and g_post the
// post-feed-forward norm's weight 1 + γ_post of the neuron's layer (model.MLPWeights.PostNorm;
// a neuron's write into the residual stream there is a·g_post ⊙ v / s_post). With NormWeight
// the score is the logit change v makes through the final norm and the unembedding, up to the
// norms' positive, position-dependent factors 1/s (and 1/s_post), which drop out of a ranking:
// a neuron with activation a at a position changes the logit of t by a·score_t/(s·s_post),
// exactly its DirectLogit attribution (DLAResult). The norm's bias adds W_U[t]·β whatever v
// is, so it is left out. Scores are logits before any final soft-cap (Gemma 2's cap·tanh(z/cap)
// is monotone, but how much it compresses a change depends on the position's logits), not
// probabilities: softmax keeps the ranking. Ties rank the lower token id first; NaN scores are
// never selected. An image classifier (ViT) has no vocabulary and is refused.
//
// The work is one GEMM per chunk of vectors ([chunk, d_model] × W_Uᵀ through internal/linalg,
// so the OpenBLAS build is much faster), then a streaming top-K/bottom-K scan of each row of
// scores with two K-element heaps, in parallel over rows. Results are in layer order, then
// neuron order.
func DecodeNeurons(m *model.Model, opt DecodeOptions) ([]NeuronDecoding, error) {
	var out []NeuronDecoding
	err := DecodeNeuronsFunc(m, opt, func(layer []NeuronDecoding) error {
		out = append(out, layer...)
		return nil
	})
	return out, err
}

// DecodeNeuronsFunc is DecodeNeurons handing over each layer's decodings ([d_mlp], neuron
// order) as soon as they are complete, so a whole-model run need not hold every layer. An
// error from fn stops the run and is returned.
func DecodeNeuronsFunc(m *model.Model, opt DecodeOptions, fn func(layer []NeuronDecoding) error) error {
	c := m.Config
	if err := needLMHead(m, "LM-head decoding"); err != nil {
		return err
	}
	if opt.K <= 0 {
		return fmt.Errorf("attribute: decode K must be positive, got %d", opt.K)
	}
	layers, err := dlaLayers(m, opt.Layers)
	if err != nil {
		return err
	}
	dirs, err := decodeDirections(c, opt.Directions)
	if err != nil {
		return err
	}
	d, v, k := c.DModel, c.DVocab, min(opt.K, c.DVocab)
	chunk := opt.ChunkSize
	if chunk <= 0 {
		chunk = defaultDecodeChunk(v)
	}
	chunk = min(chunk, c.DMLP)
	wu := m.Unembedding()
	var g []float32
	if opt.NormWeight {
		gw, _ := m.FinalNorm()
		g = normGain32(c, gw)
	}
	a := make([]float32, chunk*d)
	scores := make([]float32, chunk*v)
	total, done := len(layers)*len(dirs)*c.DMLP, 0
	for _, l := range layers {
		w := m.MLP(l)
		var gPost []float32 // the post-feed-forward norm's weight, for write directions
		if g != nil && w.PostNorm != nil {
			gPost = normGain32(c, w.PostNorm)
		}
		out := make([]NeuronDecoding, c.DMLP)
		for i := range out {
			out[i].Neuron = hooks.NeuronAt(l, hooks.MLPPost, i)
		}
		for _, dir := range dirs {
			p, read := w.In, true
			switch dir {
			case DecodeUp:
				p = w.Up
			case DecodeWrite:
				p, read = w.Out, false
			}
			for lo := 0; lo < c.DMLP; lo += chunk {
				hi := min(lo+chunk, c.DMLP)
				rows := hi - lo
				gatherNeurons(a[:rows*d], p, lo, hi, d, read)
				if g != nil {
					if dir == DecodeWrite && gPost != nil {
						scaleRows(a[:rows*d], gPost)
					}
					normLinear(a[:rows*d], g, d, c.LayerNorm)
				}
				s := scores[:rows*v]
				linalg.Gemm(blas.NoTrans, blas.Trans, rows, v, d, 1, a, d, wu.Data, d, 0, s, v)
				linalg.Parallel(rows, 1, func(r0, r1 int) {
					sel := newTokenSelector(k)
					for r := r0; r < r1; r++ {
						top, bottom := sel.scan(s[r*v : (r+1)*v])
						nd := &out[lo+r]
						switch dir {
						case DecodeRead:
							nd.ReadTop, nd.ReadBottom = top, bottom
						case DecodeUp:
							nd.UpTop, nd.UpBottom = top, bottom
						case DecodeWrite:
							nd.WriteTop, nd.WriteBottom = top, bottom
						}
					}
				})
				done += rows
				if opt.Progress != nil {
					opt.Progress(done, total)
				}
			}
		}
		if err := fn(out); err != nil {
			return err
		}
	}
	return nil
}

// defaultDecodeChunk picks the vectors per GEMM: about 512 rows per core (internal/linalg
// splits the rows of C across goroutines when the BLAS is single-threaded, and OpenBLAS packs
// all of W_U once per call, so short calls waste time packing), with the [chunk, d_vocab]
// score buffer kept near 256 MB.
func defaultDecodeChunk(vocab int) int {
	c := min(max(512*runtime.GOMAXPROCS(0), 256), 4096)
	if lim := (64 << 20) / vocab; c > lim {
		c = max(lim, 64)
	}
	return c
}

func decodeDirections(c *model.Config, dirs []DecodeDirection) ([]DecodeDirection, error) {
	if dirs == nil {
		dirs = []DecodeDirection{DecodeRead, DecodeWrite}
		if c.Gated {
			dirs = []DecodeDirection{DecodeRead, DecodeUp, DecodeWrite}
		}
		return dirs, nil
	}
	seen := map[DecodeDirection]bool{}
	for _, d := range dirs {
		switch {
		case d < DecodeRead || d > DecodeWrite:
			return nil, fmt.Errorf("attribute: unknown decode direction %d", int(d))
		case d == DecodeUp && !c.Gated:
			return nil, fmt.Errorf("attribute: %s MLPs are not gated: no up direction to decode", c.ModelType)
		case seen[d]:
			return nil, fmt.Errorf("attribute: decode direction %s given twice", d)
		}
		seen[d] = true
	}
	return dirs, nil
}

// gatherNeurons copies the d_model vectors of neurons lo..hi-1 of weight p into dst
// [hi-lo, d_model]. read says whether p is an input weight (neuron i is row i of
// [d_mlp, d_model]) or an output weight (column i of [d_model, d_mlp]); Conv1D swaps both.
func gatherNeurons(dst []float32, p *model.Param, lo, hi, d int, read bool) {
	if read != p.InOut { // neuron vectors are rows
		copy(dst, p.Data[lo*d:hi*d])
		return
	}
	stride := p.Shape[1]
	for j := 0; j < d; j++ {
		for r, x := range p.Data[j*stride+lo : j*stride+hi] {
			dst[r*d+j] = x
		}
	}
}

// normGain32 is a norm's effective per-dimension scale: its weight γ, or 1 + γ with
// Config.NormPlusOne (Gemma).
func normGain32(c *model.Config, w *model.Param) []float32 {
	g := make([]float32, len(w.Data))
	for j, x := range w.Data {
		g[j] = x
		if c.NormPlusOne {
			g[j] = 1 + x
		}
	}
	return g
}

// scaleRows multiplies each row of a [rows, len(g)] block elementwise by g.
func scaleRows(a, g []float32) {
	for off := 0; off < len(a); off += len(g) {
		for j, x := range g {
			a[off+j] *= x
		}
	}
}

// normLinear replaces each row v of a [rows, d] block by g ⊙ P v (P: centering when center).
func normLinear(a, g []float32, d int, center bool) {
	for off := 0; off < len(a); off += d {
		row := a[off : off+d]
		var mean float64
		if center {
			for _, x := range row {
				mean += float64(x)
			}
			mean /= float64(d)
		}
		for j, x := range row {
			row[j] = float32(float64(x)-mean) * g[j]
		}
	}
}

// tokenSelector streams a row of scores once and keeps the k largest and the k smallest in
// two heaps whose roots are their worst members, so almost every score costs two comparisons.
type tokenSelector struct {
	k        int
	top, bot []DecodedToken
}

func newTokenSelector(k int) *tokenSelector {
	return &tokenSelector{k: k, top: make([]DecodedToken, 0, k), bot: make([]DecodedToken, 0, k)}
}

// scan returns the k highest-scoring tokens of row (highest first) and the k lowest (lowest
// first), in new slices. Ties go to the lower id: scores are visited in id order, and a later
// equal score never displaces an earlier one.
func (t *tokenSelector) scan(row []float32) (top, bottom []DecodedToken) {
	k := t.k
	t.top, t.bot = t.top[:0], t.bot[:0]
	j := 0
	for ; j < len(row) && len(t.top) < k; j++ {
		if row[j] != row[j] { // NaN
			continue
		}
		e := DecodedToken{ID: j, Score: row[j]}
		t.top = append(t.top, e)
		tokenSiftUp(t.top, false)
		t.bot = append(t.bot, e)
		tokenSiftUp(t.bot, true)
	}
	if len(t.top) > 0 {
		tmin, bmax := t.top[0].Score, t.bot[0].Score
		// Blocks of 8 that can change neither heap (the common case) cost 16 predictable
		// comparisons and no heap work; NaNs fail every comparison and are skipped either way.
		for ; j+8 <= len(row); j += 8 {
			b := row[j : j+8 : j+8]
			if b[0] > tmin || b[1] > tmin || b[2] > tmin || b[3] > tmin || b[4] > tmin || b[5] > tmin || b[6] > tmin || b[7] > tmin ||
				b[0] < bmax || b[1] < bmax || b[2] < bmax || b[3] < bmax || b[4] < bmax || b[5] < bmax || b[6] < bmax || b[7] < bmax {
				tmin, bmax = t.offer(b, j, tmin, bmax)
			}
		}
		t.offer(row[j:], j, tmin, bmax)
	}
	out := make([]DecodedToken, 2*len(t.top))
	top, bottom = out[:len(t.top):len(t.top)], out[len(t.top):]
	copy(top, t.top)
	copy(bottom, t.bot)
	sort.Slice(top, func(a, b int) bool { return tokenWorse(top[b], top[a], false) })
	sort.Slice(bottom, func(a, b int) bool { return tokenWorse(bottom[b], bottom[a], true) })
	return top, bottom
}

// offer streams scores (token ids base, base+1, …) through both full heaps, given and
// returning the roots' scores.
func (t *tokenSelector) offer(scores []float32, base int, tmin, bmax float32) (float32, float32) {
	for i, x := range scores {
		if x > tmin {
			t.top[0] = DecodedToken{ID: base + i, Score: x}
			tokenSiftDown(t.top, false)
			tmin = t.top[0].Score
		}
		if x < bmax {
			t.bot[0] = DecodedToken{ID: base + i, Score: x}
			tokenSiftDown(t.bot, true)
			bmax = t.bot[0].Score
		}
	}
	return tmin, bmax
}

// tokenWorse orders heap members: for a top list a lower score is worse, for a bottom list a
// higher one; on equal scores the higher id is worse.
func tokenWorse(a, b DecodedToken, bottom bool) bool {
	if a.Score != b.Score {
		return (a.Score < b.Score) != bottom
	}
	return a.ID > b.ID
}

// tokenSiftUp restores the heap (root = worst) after an append.
func tokenSiftUp(h []DecodedToken, bottom bool) {
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !tokenWorse(h[i], h[p], bottom) {
			return
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

// tokenSiftDown restores the heap after the root was replaced.
func tokenSiftDown(h []DecodedToken, bottom bool) {
	i, n := 0, len(h)
	for {
		w, l, r := i, 2*i+1, 2*i+2
		if l < n && tokenWorse(h[l], h[w], bottom) {
			w = l
		}
		if r < n && tokenWorse(h[r], h[w], bottom) {
			w = r
		}
		if w == i {
			return
		}
		h[i], h[w] = h[w], h[i]
		i = w
	}
}

// TopTokens returns the k highest scores of one row over the vocabulary (highest first) and
// the k lowest (lowest first), ties to the lower id, NaN skipped: the selection every
// vocabulary projection uses.
func TopTokens(scores []float32, k int) (top, bottom []DecodedToken) {
	return newTokenSelector(k).scan(scores)
}
