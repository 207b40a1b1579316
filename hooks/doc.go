// Package hooks names the points of a transformer where activations can be read or changed,
// exactly as TransformerLens names them, and carries the hooks of one model call.
//
// # Hook points
//
//	name                          shape                          what
//	hook_embed                    [batch, pos, d_model]          token embedding (Gemma: scaled)
//	hook_pos_embed                [batch, pos, d_model]          learned positions (GPT-2)
//	blocks.L.hook_resid_pre       [batch, pos, d_model]          residual stream into block L
//	blocks.L.attn.hook_z          [batch, pos, n_heads, d_head]  heads before the output projection
//	blocks.L.hook_attn_out        [batch, pos, d_model]          attention output
//	blocks.L.hook_resid_mid       [batch, pos, d_model]          after attention (not with parallel residual)
//	blocks.L.mlp.hook_pre         [batch, pos, d_mlp]            gate / W_in pre-activation
//	blocks.L.mlp.hook_pre_linear  [batch, pos, d_mlp]            up projection (gated MLPs)
//	blocks.L.mlp.hook_post        [batch, pos, d_mlp]            MLP output projection input: "the neuron"
//	blocks.L.hook_mlp_out         [batch, pos, d_model]          MLP output
//	blocks.L.hook_resid_post      [batch, pos, d_model]          residual stream out of block L
//	ln_final.hook_scale           [batch, pos, 1]                final norm divisor
//	ln_final.hook_normalized      [batch, pos, d_model]          normalized, before weight/bias
//	ln_final.output               [batch, pos, d_model]          final norm output (neuronscope extension)
//
// A Point is a typed value whose String is the exact name; Parse is its inverse. Models also
// accept Hugging Face module paths as aliases ("model.layers.3.mlp.down_proj:input"); a model's
// Catalog lists both, and `neuronscope inspect` prints the mapping.
//
// # Scope
//
// Options (Capture, Edit, Observe) are passed to one call and live only for it; nothing is
// registered globally. At each point, edits run first, in the order given, on a
// [batch, pos, ...] tensor that aliases the live buffer, so changing it changes the rest of the
// forward pass; observers run next and see the same buffer without a copy (they must not
// change it); captures run last and store copies. Every hook function returns an error: the
// first non-nil one aborts the model call, which returns it. Requesting a point the model does
// not have is an error before the call runs; a requested point that never fired is an error
// after it. A model's Catalog gives each point's inner shape and Width (units per position).
//
// In a gradient call an edit is straight-through: the backward pass treats it as the identity.
// Detach makes a point's rows constants for the backward pass instead (the gradient at the
// point is still reported, but stops there); models say where they support it.
package hooks
