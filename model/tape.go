package model

// tape keeps, for every block of a forward run, what the block's backward pass reads. The block
// code is the same with and without a tape: beginBlock points the run's scratch buffers at
// fresh per-block buffers, run.norm keeps the normalized rows and divisors, and attention keeps
// its probabilities. Keys (after RoPE) and values need no copy: the KV cache holds every layer.
type tape struct {
	layers     []blockTape
	final      normTape  // the final norm
	finalBlock blockTape // holds the final norm while it runs
	embed      blockTape // norms of the embedding (BLOOM's word_embeddings_layernorm)
	weights    bool      // weight gradients follow: also keep z and hook_post (the inputs of W_O and W_out)
	cur        *blockTape
}

// normTape is one norm's saved state: x̂ (before weight and bias) and the divisor s.
type normTape struct {
	normed []float32 // [n, d_model]
	scale  []float32 // [n]
}

// blockTape is one block's saved state, shapes over n = batch·pos rows.
type blockTape struct {
	norms []normTape // in call order: the attention norm, then the MLP norm (Gemma 2/3: the four norms)
	qkv   []float32  // projections, laid out as the block lays them out; q after RoPE
	// qNorm, kNorm keep the q/k norms' x̂ [n, heads, d_head] and divisors [n, heads] (Qwen3, Gemma 3).
	qNorm, kNorm normTape
	probs        []float32 // attention probabilities [batch, n_heads, pos, past+pos]
	z            []float32 // [n, n_heads·d_head] (weight gradients only)
	pre          []float32 // mlp.hook_pre [n, d_mlp]
	lin          []float32 // mlp.hook_pre_linear [n, d_mlp] (gated MLPs)
	post         []float32 // mlp.hook_post [n, d_mlp] (weight gradients only)
}

func newTape(c *Config, weights bool) *tape {
	return &tape{layers: make([]blockTape, c.NLayers), weights: weights}
}

// beginBlock gives block l its own buffers and makes the run write into them.
func (tp *tape) beginBlock(r *run, l int) {
	c, n := r.c, r.n
	bt := &tp.layers[l]
	bt.qkv = make([]float32, n*(c.QDim()+2*c.KVDim()))
	bt.probs = make([]float32, r.b*c.NHeads*r.t*(r.past+r.t))
	bt.pre = make([]float32, n*c.DMLP)
	r.qkv, r.pre = bt.qkv, bt.pre
	if c.Gated {
		bt.lin = make([]float32, n*c.DMLP)
		r.lin = bt.lin
	}
	if tp.weights {
		bt.z = make([]float32, n*c.QDim())
		bt.post = make([]float32, n*c.DMLP)
		r.z, r.post = bt.z, bt.post
	}
	tp.cur = bt
}

// addNorm returns fresh buffers for the next norm of the current block and keeps them.
func (tp *tape) addNorm(n, d int) (normed, scale []float32) {
	nt := normTape{normed: make([]float32, n*d), scale: make([]float32, n)}
	tp.cur.norms = append(tp.cur.norms, nt)
	return nt.normed, nt.scale
}
