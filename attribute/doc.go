// Package attribute scores MLP neurons (and any other hook point) by how much they matter
// for a model output.
//
// # Methods
//
//	method                 function              cost                         hook points read
//	direct logit attr.     DirectLogit           1 forward                    blocks.L.mlp.hook_post, ln_final.hook_scale
//	LM-head decoding       DecodeNeurons         weights only                 (none)
//	gradient × activation  GradXAct              1 forward + 1 backward       any
//	attribution patching   AttributionPatching   2 forwards + 1 backward      any
//	integrated gradients   IntegratedGradients   1 forward + m steps, batched any per-layer point (usually hook_post)
//	knowledge neurons      KnowledgeNeurons      IntegratedGradients per layer and prompt   blocks.L.mlp.hook_post
//	logit lens             LogitLens             1 forward + final norm per layer           blocks.L.hook_resid_post
//
// DLA and decoding are described on their types (DLAResult, DecodeOptions).
//
// # Logit lens
//
// LogitLens projects the residual stream after block L through the model's final norm and
// unembedding, for every layer and position of one prompt:
//
//	logits_L[t] = W_U · ln_final(blocks.L.hook_resid_post[t])      [pos, d_vocab] per layer
//
// ln_final is the model's own (model.ForwardFrom at layer n_layers): LayerNorm with centering,
// RMSNorm, Gemma's 1 + γ, each position normalised by its own scale. The last layer's lens is
// the model's output. Per layer and position the report keeps the K most probable tokens
// (softmax over the vocabulary; ties by lower id) and the rank of the prompt's next token. The gradient
// methods below differentiate a model.Metric through model.Model.Gradient.
//
// # The metric
//
// M is a scalar function of the logits at one batch row and position (model.Metric):
// model.LogProb, model.Prob, model.Logit, model.LogitDiff, or model.MeanLogProb of a
// multi-token continuation. Positions index the padded batch. Every method reports M.
//
// # Gradient × activation and attribution patching
//
// For a unit i of the activation a at a hook point (one entry of [batch, pos, ...]):
//
//	GradXAct:             s_i = a_i · ∂M/∂a_i
//	AttributionPatching:  s_i = (a_i^clean − a_i^corrupt) · ∂M/∂a_i |_(corrupt run)
//
// GradXAct is the first-order estimate of zero-ablating unit i, M(a) − M(a, a_i = 0), and
// AttributionPatching (AtP) the first-order estimate of patching the clean value into the
// corrupt run, M(corrupt, a_i = a_i^clean) − M(corrupt). Both are exact where M is linear in
// a (e.g. a logit at ln_final.output) and approximate elsewhere (attention saturation and
// large activations break the linearization; see Kramár et al. 2024, AtP*). Scores are
// [batch, pos, ...] like the activation; pool over positions as your method prescribes
// (CULNIG takes the max over positions).
//
// # Integrated gradients
//
// For the activation a at a per-layer hook point, a baseline b (zero by default) and the
// straight path a(α) = b + α(a − b):
//
//	IG_i = (a_i − b_i) · ∫₀¹ ∂f/∂a_i(a(α)) dα  ≈  (a_i − b_i) · Σ_k w_k · ∂f/∂a_i(a(α_k))
//
// Completeness: Σ_i IG_i = f(a) − f(b) exactly for the integral. The Riemann sum misses it by
// IGResult.Gap = |Σ_i IG_i − (f(a) − f(b))|, which shrinks like 1/m for Left and Both and like
// 1/m² for Trapezoid. The rules (Rule):
//
//	Left       α_k = k/m,     k = 0..m−1, w_k = 1/m   Dai et al. 2022 (knowledge neurons), NeuronPath; default
//	Both       α_k = k/(m−1), k = 0..m−1, w_k = 1/m   EleutherAI knowledge-neurons: torch.linspace(0, 1, m)
//	Trapezoid  α_k = k/m,     k = 0..m,   w_k = 1/m, halved at both ends
//
// The scope (Scope) says what moves along the path: Target scales only the row at the
// metric's position and keeps every other position at its clean value (Dai et al.: the
// [MASK] position; attributions are [width]); All scales the whole [pos, width] tensor
// together (attributions are [pos, width]). Dai et al. attribute the target's probability
// (model.Prob) with m = 20 and the Left rule, which is the zero IGOptions.
//
// How it runs: one clean forward pass caches blocks.L.hook_resid_pre (and, for Target, the
// keys and values of every earlier position); then the m steps run as batch rows of one
// model.GradientFrom call that starts at layer L, with an edit hook setting the scaled rows
// to a(α_k). With Target only the target position (and any later positions the metric
// reads) is recomputed, on top of the cached keys and values, so a step costs about one
// token. For GPT-2-small, one layer, a 32-token prompt and m = 20 (BenchmarkIGGPT2Small,
// OpenBLAS build), IntegratedGradients costs about 2-3 plain forward passes of the prompt with
// Target and 5.5 (layer 6) to 11 (layer 0) with All. All is bound by matrix products over
// m·pos rows, ~28 forward passes' worth of FLOPs at layer 0; gonum's pure-Go BLAS, which
// gains little from the larger batch, takes ~33 forward passes there.
//
// # Knowledge neurons
//
// KnowledgeNeurons implements Dai et al.'s selection: per prompt (paraphrases of one fact),
// Target-scope IG of the answer's probability at the last position for every hook_post neuron
// of every searched layer; coarse neurons have IG >= t·max (t = 0.2, the max over all layers
// of that prompt); knowledge neurons are coarse for at least a share p = 0.7 of the prompts.
//
// # Conventions
//
//   - "The neuron" is blocks.L.mlp.hook_post (the input of the MLP output projection). IG and
//     the gradient methods accept any hook point, e.g. mlp.hook_pre for EleutherAI's GPT-2
//     setting (pre-GELU) or CULNIG's gate pre-activations.
//   - Gradients are exact float32 backpropagation (model.Gradient), checked against float64
//     PyTorch on every fixture. Gradients at positions after the metric's are exactly zero.
//   - Hook edits passed to GradXAct apply in the forward pass; the backward pass treats an
//     edit as the identity (straight-through).
//   - Everything is in the model's raw HF weights: neuron i is HF's index i.
package attribute
