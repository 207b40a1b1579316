// Package model loads local Hugging Face checkpoints and runs them exactly, with
// TransformerLens-named hooks.
//
// # Overview
//
// Load reads config.json and the weights (model.safetensors, a sharded
// model.safetensors.index.json, F32/F16/BF16, mmap'd) of a gpt2, llama, mistral, qwen2,
// gpt_neox or gemma checkpoint. Forward runs a padded Batch and returns logits plus whatever
// the hook options asked for:
//
//	m, err := model.Load("path/to/checkpoint")
//	b, err := model.NewBatch([][]int{{1, 5, 9}}, model.PadRight, 0)
//	res, err := m.Forward(b, hooks.Capture("blocks.*.mlp.hook_post"))
//	post, _ := res.Cache.GetName("blocks.3.mlp.hook_post") // [batch, pos, d_mlp]
//
// Generate continues prompts greedily with a KV cache; ForwardKV continues any cache;
// ForwardFrom starts at block L from a residual stream (at n_layers: the final norm and the
// unembedding alone, the logit lens).
//
// Weights holding NaN or ±Inf values are refused at load (*NonFiniteError): such a model
// computes NaN logits, and greedy decoding then returns token 0 everywhere.
// Options.AllowNonFinite loads them anyway; the finding goes to Model.Warnings and from there
// into every Provenance, so each output computed from them says so.
//
// # Gradients
//
// Gradient runs a batch forward, evaluates a Metric (LogProb, Prob, Logit, LogitDiff,
// MeanLogProb of a target at one row and position, of every row: AllRows, or of every row
// with its own token: EachRow) and
// backpropagates it exactly, returning ∂metric/∂activation at any hook points:
//
//	g, err := m.Gradient(b, model.Prob(0, 4, tok), []hooks.Point{hooks.At(3, hooks.MLPPost)})
//	grad := g.Grads[hooks.At(3, hooks.MLPPost)] // [batch, pos, d_mlp]
//
// Edits in its hook options apply in the forward pass (integrated gradients scale an
// activation that way) and count as the identity in the backward pass, unless hooks.Detach
// makes the edited rows constants (supported at mlp.hook_pre, hook_pre_linear and hook_post:
// "replace by a constant", NeuronPath's intervention). GradientFrom starts
// the forward pass at blocks.L.hook_resid_pre from a cached residual (and, optionally, a KV
// cache of earlier positions: KVCache.Fork), so attributing layer L runs only layers >= L.
// WeightGradients returns the mean next-token cross-entropy and its gradient for every
// weight tensor by HF name.
//
// The forward pass with a tape (tape.go) keeps per block what the backward pass reads; plain
// Forward runs without one and is unchanged by it. Every kernel in ops.go is an xxxForward /
// xxxBackward pair (backward accumulates into its d-buffers), and each architecture's
// blockBackward sits next to its block; backward.go walks them in reverse.
//
// # Shapes
//
// One vocabulary everywhere, row-major, PyTorch/TransformerLens order: [batch, pos, d_model],
// [batch, pos, d_mlp], [batch, pos, n_heads, d_head], [batch, pos, d_vocab]. Internally a
// batch is N = batch·pos rows.
//
// # Invariants
//
//   - Weights are the raw HF tensors (Param), never renamed, permuted or fused: neuron i of
//     blocks.L.mlp.hook_post is row i of HF's down-projection input, column i of W_out.
//   - Compute is float32; reductions (norms, softmax sums) accumulate in float64.
//   - Position ids are cumsum(mask)-1 clamped at 0, so a padded row computes exactly what the
//     unpadded prompt computes at its real positions (left or right padding).
//   - A config.json key neuronscope does not know, or a value it cannot honour
//     (rope_scaling, sliding windows shorter than the input, …), is an error: a model is never
//     run silently wrong. Every architecture passes the same reference suite (parity_test.go)
//     against float64 PyTorch goldens.
//   - Hooks live for one call; no state is registered globally.
//
// # The neuron
//
// "The neuron" is blocks.L.mlp.hook_post: the input of the MLP output projection, i.e.
// act(W_in x) for GPT-2/NeoX and act(gate(x))·up(x) for gated MLPs (Llama, Qwen2, Mistral,
// Gemma). mlp.hook_pre is the gate (or W_in) pre-activation, mlp.hook_pre_linear the up
// projection of gated MLPs, hook_mlp_out the block's MLP output in d_model.
package model
