// Package hooks names the points of a transformer where activations can be read or changed,
// exactly as TransformerLens names them, and carries the hooks of one model call.
//
// # Hook points
//
//	name                           shape                                   what
//	hook_embed                     [batch, pos, d_model]                   token embedding (Gemma: scaled; BLOOM: after its LayerNorm)
//	hook_pos_embed                 [batch, pos, d_model]                   learned positions (GPT-2, ViT)
//	blocks.L.hook_resid_pre        [batch, pos, d_model]                   residual stream into block L
//	blocks.L.ln1.hook_scale        [batch, pos, 1]                         attention-input norm divisor
//	blocks.L.ln1.hook_normalized   [batch, pos, d_model]                   normalized, before the norm's weight/bias
//	blocks.L.attn.hook_q           [batch, pos, n_heads, d_head]           query projection (before q_norm, RoPE)
//	blocks.L.attn.hook_k           [batch, pos, n_kv_heads, d_head]        key projection (grouped-query: n_kv_heads)
//	blocks.L.attn.hook_v           [batch, pos, n_kv_heads, d_head]        value projection
//	blocks.L.attn.hook_rot_q       [batch, pos, n_heads, d_head]           queries after q_norm and RoPE (rotary models)
//	blocks.L.attn.hook_rot_k       [batch, pos, n_kv_heads, d_head]        keys after k_norm and RoPE (rotary models)
//	blocks.L.attn.hook_attn_scores [batch, n_heads, query_pos, key_pos]    scaled scores, -Inf where masked
//	blocks.L.attn.hook_pattern     [batch, n_heads, query_pos, key_pos]    attention probabilities
//	blocks.L.attn.hook_z           [batch, pos, n_heads, d_head]           heads before the output projection
//	blocks.L.attn.hook_result      [batch, pos, n_heads, d_model]          each head's output (only when asked: costly)
//	blocks.L.hook_attn_out         [batch, pos, d_model]                   attention output (Gemma 2/3: after the post-attention norm)
//	blocks.L.hook_resid_mid        [batch, pos, d_model]                   after attention (not with parallel residual)
//	blocks.L.ln2.hook_scale        [batch, pos, 1]                         MLP-input norm divisor
//	blocks.L.ln2.hook_normalized   [batch, pos, d_model]                   normalized, before the norm's weight/bias
//	blocks.L.mlp.hook_pre          [batch, pos, d_mlp]                     gate / W_in pre-activation
//	blocks.L.mlp.hook_pre_linear   [batch, pos, d_mlp]                     up projection (gated MLPs)
//	blocks.L.mlp.hook_post         [batch, pos, d_mlp]                     MLP output projection input: "the neuron"
//	blocks.L.hook_mlp_out          [batch, pos, d_model]                   MLP output (Gemma 2/3: after the post-feed-forward norm)
//	blocks.L.hook_resid_post       [batch, pos, d_model]                   residual stream out of block L
//	ln_final.hook_scale            [batch, pos, 1]                         final norm divisor
//	ln_final.hook_normalized       [batch, pos, d_model]                   normalized, before weight/bias
//	ln_final.output                [batch, pos, d_model]                   final norm output (neuronscope extension)
//
// Two points are not [batch, pos, ...]: attn.hook_attn_scores and attn.hook_pattern are
// [batch, n_heads, query_pos, key_pos] as in TransformerLens, where key_pos counts every key a
// query may see (earlier positions in a KV cache included). Site.PerPosition tells them
// apart; their Catalog shape is [n_heads, KeyPos] and their Width is 0. The scores are what
// the softmax reads: q·k times the model's scale (1/sqrt(d_head), Gemma's
// query_pre_attn_scalar^-1/2, GPT-2's extra 1/(layer+1)), soft-capped (Gemma 2), plus the
// ALiBi bias slope_h·(pos_k − pos_q) (BLOOM, TransformerLens' convention), and -Inf at keys
// the query may not see (causal, padding, sliding window). A query that sees no key has a
// pattern row of zeros. Editing the scores changes the pattern (a masked score set to a finite
// value is then attended to, as in TransformerLens); editing the pattern changes hook_z.
//
// In grouped-query models hook_k, hook_v and hook_rot_k hold the n_kv_heads key/value heads
// (TransformerLens' default, ungroup_gqa off); query head h reads key/value head
// h / (n_heads/n_kv_heads). hook_rot_q and hook_rot_k exist only in rotary models. For models
// with q/k norms (Qwen3, Gemma 3) hook_q and hook_k are the projections before the norm, as in
// TransformerLens; hook_rot_q and hook_rot_k are after norm and rotation. attn.hook_result is
// computed only when a hook asks for it (n_heads·d_model values per position); when an edit
// changes it, the attention output becomes the sum of the edited heads plus the output bias.
//
// A Point is a typed value whose String is the exact name; Parse is its inverse. Models also
// accept Hugging Face module paths as aliases ("model.layers.3.mlp.down_proj:input"); a model's
// Catalog lists both, and `neuronscope inspect` prints the mapping.
//
// Two sites name a decomposition's units rather than a model activation, so that a Neuron,
// a NeuronSet, a label or a profile names an SNMF feature or an SAE latent as it names a
// neuron: MLPPostSNMF, "blocks.L.mlp.hook_post.snmf" (feature j of an SNMF fitted at
// blocks.L.mlp.hook_post), and MLPPostSAE, "blocks.L.mlp.hook_post.sae.hook_sae_acts_post"
// (latent j of an SAE at that hook, SAELens's name). They are per layer (PerLayer), IsUnits
// reports them, and Base gives the activation they are computed from (mlp.hook_post). No
// model's Catalog holds them; the experiments resolve them through the decomposition (package
// ablate, Units).
//
// # Scope
//
// Options (Capture, Edit, Observe) are passed to one call and live only for it; nothing is
// registered globally. At each point, edits run first, in the order given, on a tensor that
// aliases the live buffer (or, where the model keeps heads interleaved, a copy written back
// after the edits), so changing it changes the rest of the forward pass; observers run next
// and see the same buffer without a copy (they must not change it); captures run last and
// store copies. Every hook function returns an error: the first non-nil one aborts the model
// call, which returns it. Requesting a point the model does not have is an error before the
// call runs; a requested point that never fired is an error after it. A model's Catalog gives
// each point's inner shape and Width (units per position).
//
// In a gradient call an edit is straight-through: the backward pass treats it as the identity.
// Detach makes a point's rows constants for the backward pass instead (the gradient at the
// point is still reported, but stops there); models say where they support it.
package hooks
