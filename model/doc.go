// Package model loads local Hugging Face checkpoints and runs them exactly, with
// TransformerLens-named hooks.
//
// # Overview
//
// Load reads config.json and the weights (model.safetensors, a sharded
// model.safetensors.index.json, F32/F16/BF16, mmap'd) of a gpt2, llama (Llama 2/3, RoPE
// scaling llama3/linear), mistral, qwen2, qwen3, gpt_neox, gemma, gemma2, gemma3_text, bloom or
// vit checkpoint, one file per architecture (llama.go, gpt2.go, gptneox.go, gemma.go, gemma2.go,
// gemma3.go, qwen2.go, qwen3.go, mistral.go, bloom.go, vit.go). Forward runs a padded Batch and
// returns logits plus whatever the hook options asked for:
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
// An image classifier (vit) takes pixel values [batch, channels, size, size] instead of token
// ids (model/vision reads and prepares image files as the checkpoint's preprocessor_config.json
// says): ForwardImages returns class logits [batch, n_classes] and activations
// [batch, tokens, ...] with token 0 the CLS token; GradientImages differentiates a metric of
// them (Prob(row, 0, class)), and GradientImagesFrom starts such a pass at a layer's cached
// residual stream [batch, tokens, d_model] (integrated gradients and NeuronPath on images run
// only the layers they need). The token-id entry points refuse an image model and vice versa.
//
// # Attention
//
// attention.go holds every architecture's attention, forward and backward: per layer a scale
// (1/sqrt(d_head), Gemma's query_pre_attn_scalar^-1/2, GPT-2's extra 1/(layer+1)), an optional
// soft-cap cap·tanh(s/cap) (Gemma 2), ALiBi slope_h·(pos_k − pos_q) (BLOOM), causal and padding
// masks, sliding windows (Gemma 2/3's local layers) or none (ViT), all applied in the one pass
// over each score row; q/k RMSNorms (Qwen3, Gemma 3) and RoPE are applied together in one pass
// over the heads. The hook points attn.hook_q/k/v, hook_rot_q/k, hook_attn_scores,
// hook_pattern ([batch, n_heads, query_pos, key_pos]), hook_z and hook_result (computed only
// when asked) can be captured, edited and differentiated like the MLP points (see package
// hooks for their shapes).
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
//   - A config.json value neuronscope cannot honour (a rope_scaling type it does not implement,
//     a forward-changing key it does not implement, Mistral/Qwen2 inputs longer than their
//     sliding window, …) is an error naming the file and key: a model is never run silently
//     wrong. Keys known not to change the forward pass are accepted; a key neuronscope has never
//     seen is a warning in Model.Warnings (an error with Options.StrictConfig), and an absent key
//     whose HF default changes the pass (Gemma 2's soft-caps) is taken with a warning. Every
//     architecture passes the same reference suite (parity_test.go, vit_test.go) against the
//     float64 PyTorch goldens of shared/fixtures and shared/fixtures-families.
//   - Hooks live for one call; no state is registered globally.
//
// # The neuron
//
// "The neuron" is blocks.L.mlp.hook_post: the input of the MLP output projection, i.e.
// act(W_in x) for GPT-2/NeoX/BLOOM/ViT and act(gate(x))·up(x) for gated MLPs (Llama, Qwen2/3,
// Mistral, Gemma 1/2/3). mlp.hook_pre is the gate (or W_in) pre-activation, mlp.hook_pre_linear
// the up projection of gated MLPs, hook_mlp_out the block's MLP output in d_model (Gemma 2/3:
// after the post-feed-forward norm, what is added to the residual stream).
package model
