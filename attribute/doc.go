// Package attribute scores MLP neurons (and any other hook point) by how much they matter
// for a model output.
//
// # Methods
//
//	method                 function              cost                         hook points read
//	direct logit attr.     DirectLogit           1 forward                    blocks.L.mlp.hook_post, ln_final.hook_scale, ln_final.output
//	LM-head decoding       DecodeNeurons         weights only                 (none)
//	gradient × activation  GradXAct              1 forward + 1 backward       any
//	attribution patching   AttributionPatching   2 forwards + 1 backward      any
//	integrated gradients   IntegratedGradients   1 forward + m steps, batched any per-layer point (usually hook_post)
//	knowledge neurons      KnowledgeNeurons      IntegratedGradients per layer and prompt   blocks.L.mlp.hook_post
//	concept neurons        ScoreConcept,         1 forward + 1 backward per batch of items  mlp.hook_pre, hook_pre_linear,
//	  (CULNIG)             FindConcept                                                      attention q/k/v
//	influential path       NeuronPath,           L + 2 batched passes of m one-token rows   blocks.L.mlp.hook_post
//	  (NeuronPath)         JointAttribution
//	logit lens             LogitLens             1 forward + final norm per layer           blocks.L.hook_resid_post
//
// DLA and decoding are described on their types (DLAResult, DecodeOptions). Both follow a
// neuron's write to where it joins the residual stream: through Gemma 2/3's
// post-feed-forward norm (its weight, and for DLA its divisor at the position, frozen), then
// the final norm and the unembedding, up to the logit before any final soft-cap. Neither
// applies to an image classifier (ViT), which has class logits and no vocabulary: they, and
// the logit lens, refuse one.
//
// # Logit lens
//
// LogitLens projects the residual stream after block L through the model's final norm and
// unembedding, for every layer and position of one prompt:
//
//	logits_L[t] = W_U · ln_final(blocks.L.hook_resid_post[t])      [pos, d_vocab] per layer
//
// ln_final is the model's own (model.ForwardFrom at layer n_layers): LayerNorm with centering,
// RMSNorm, Gemma's 1 + γ, each position normalised by its own scale; a model with a
// final-logit soft-cap (Gemma 2) then gets cap·tanh(logits/cap), so the lens is what the model
// would output from that residual stream. The last layer's lens is the model's output, exactly. Per layer and position the report keeps the K most probable tokens
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
// a (e.g. a logit at ln_final.output, for a model without a final-logit soft-cap) and
// approximate elsewhere (attention saturation and large activations break the linearization;
// see Kramár et al. 2024, AtP*). Gemma 2's logits are cap·tanh(z/cap) of z = W_U·ln_final.output,
// so even there GradXAct sums to z·(1 − tanh²(z/cap)), not to the logit. Scores are
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
// Post-feed-forward norms (Gemma 2/3). The zero baseline sets the scaled hook_post rows to 0,
// so at α = 0 the MLP output m = W_out·0 (no b_out) reaches the post-feed-forward RMSNorm
// m/sqrt(mean(m²)+eps)·(1+γ_post) at its singular point: its Jacobian there is
// (1+γ_post)/sqrt(eps), its output jumps from 0 to full size within α ≲ sqrt(eps)/rms(m), and
// it is scale-invariant beyond, so along the straight path f is nearly a step at α = 0. No
// Riemann sum resolves that: the α = 0 term a·∇f(0)/m is nearly the whole sum (Σ IG·m is
// constant in m, TestIGPostNormZeroBaseline), far from f(a) − f(b). The float64 PyTorch
// reference of the shared fixtures has the same numbers (layer 0, m = 20, Target scope:
// gemma2-random f(a) − f(b) = 0.0023 but Σ IG = 0.389; gemma3-random 0.0064 and 0.107;
// llama3-random, without the norm, 0.0379 and 0.0371), so this is the published method on
// these models, reproduced as is; IGResult.Gap shows it. A baseline whose MLP output is not 0
// (IGOptions.Baseline, e.g. the mean activation over the prompt's positions) avoids the
// singular point and converges like 1/m again. KnowledgeNeurons (zero baseline, Target scope)
// and NeuronPath's search passes (layer l scaled whole from 0) inherit the effect; NeuronPath's
// JAS passes, which move one neuron per layer and keep the others clean, do not.
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
// # Images (ViT)
//
// For an image classifier (model.Config.ImageModel) AttributeImage and
// IntegratedGradientsImage take one image's pixel values [1, channels, size, size] (package
// model/vision prepares them) and a metric of the class logits at the CLS position
// (model.Prob(0, CLS, class), LogProb, Logit). The gradient methods score every token; the
// report ranks the CLS row (or the sum over tokens with AllPositions). Integrated gradients
// scale the CLS row (Target) or the whole [tokens, width] activation (All). Attention is
// bidirectional, so every step reruns all tokens from blocks.L.hook_resid_pre (model
// GradientImagesFrom): no causal shortcut, a step costs one image's pass through layers >= L.
// The baseline is zero (the NeuronPath code's, checked against the vit-random golden) unless
// AttributionOptions.BaselineImage names an image whose activation at each point is the
// baseline: a black image (vision.Processor.Fill) or the preprocessor's mean image
// (vision.Processor.MeanImage, all-zero pixel values).
//
// # Knowledge neurons
//
// KnowledgeNeurons implements Dai et al.'s selection: per prompt (paraphrases of one fact),
// Target-scope IG of the answer's probability at the last position for every hook_post neuron
// of every searched layer; coarse neurons have IG >= t·max (t = 0.2, the max over all layers
// of that prompt); knowledge neurons are coarse for at least a share p = 0.7 of the prompts.
//
// Knowledge neurons go into the shared neuron-set form with KnowledgeNeuronSet: one group per
// fact (KnowledgeGroupNames: its id, else "line<N>"), and Dai's relation-level knowledge neurons
// (those of >= 10% of a relation's facts) in a group "relation/<name>". ablate.VerifyKnowledge
// (`neuronscope verify --experiment knowledge --facts FILE`) checks the fact groups.
//
// # Concept neurons (CULNIG)
//
// ScoreConcept reproduces CULNIG's calc_neuron_score.py on one item set (a prompt x whose next
// token should be the single-token answer y, and a group label): batches of left-padded
// prompts, one forward and one backward pass per batch for every tap of every layer (the
// gradient of Σ_batch P(y|x) at the last position, model.EachRow), and per item and unit
//
//	s_u(x) = P(y|x) · max_t a_u(t)·∂P(y|x)/∂a_u(t)      (control sets: max(s, 0))
//
// summed per group (ConceptScores.Sum[tap][group], [layers, width]). The taps are the module
// outputs CULNIG hooks: mlp.hook_pre (gate_proj), mlp.hook_pre_linear (up_proj) and the
// attention projections where the model has hook points for them (ConceptTaps). FindConcept
// then runs decide_culture_general_neurons.py and decide_culture_specific_neuron.py (see its
// documentation for the formulas): general neurons from the task-minus-control scores, the MLP
// (gate) and attention units ranked separately across layers, minus each pool's top exclusion
// units; group-specific neurons from each group's scores, all candidates pooled, minus the
// group's top exclusion units, with the z-score filter. The output is a hooks.NeuronSet with a
// group "general" and one per group value.
//
// Where neuronscope differs from the published code, and why:
//
//   - The max over positions runs over real tokens. CULNIG zeroes the scores at pad positions
//     before the max, so a left-padded row (shorter than its batch's longest) gets max(its
//     maximum, 0) and the result depends on the batching; ConceptScoreOptions.PublishedPadding
//     reproduces that, batching in file order as CULNIG's DataLoader does (TestConceptPadding).
//   - Computation is float32 with float64 sums (CULNIG: bf16 weights, train() mode, which
//     changes nothing for models without dropout).
//   - N is the number of distinct item ids of a set, as in CULNIG (dataset_ids); each group's
//     specific score divides by the whole set's N, as the published code does.
//   - up_proj (hook_pre_linear) is scored but not a candidate, as published; ConceptOptions.Select
//     changes the candidates. Ties rank by layer, site and index (CULNIG: dict order).
//   - Group-specific neurons are found for every task group, so an exclusion set must have
//     items of every group (CULNIG finds them for its CountryRC countries only). A fixed list
//     of units (ConceptOptions.Exclude, e.g. another finder's neuron set) can replace or add
//     to the exclusion scores.
//
// Cost: ScoreConcept over N items costs 0.60 (testdata/world-llama, 128 items) and 0.89
// (GPT-2-small shape, 32 prompts of 17-32 tokens) of N single forward+backward passes
// (BenchmarkConcept, OpenBLAS, a loaded 2-core machine); the target is <= 1.3.
//
// # Influential neuron paths (NeuronPath)
//
// NeuronPath reproduces path/joint_attr.py at one position pos of a prompt (the published
// code's CLS token; here the last prompt position by default) for a target token's probability
// (or log-probability or logit), over the units of blocks.L.mlp.hook_post (the published FFN
// after GELU). For a path P = (p_0 … p_{L−1}) with clean unit vectors a_l at pos, the joint
// attribution score is the product of two sums, as the code's j_a_score computes it:
//
//	JAS(P) = [ Σ_{i<m} Σ_l ∂y/∂a_l,p_l (α_i) ] × [ Σ_l a_l,p_l / m ],   α_i = i/m (left Riemann, α = 1 never evaluated)
//
// where at step i every layer's vector at pos is replaced by its clean value with only p_l
// moved to α_i·a_l,p_l, every replaced vector a constant (hooks.Detach: gradients do not flow
// through a later layer's replaced vector into an earlier one). The layer-progressive search
// runs, for l = 0 … L−1, one batched pass of m steps with layer l scaled whole (baseline 0) and
// the earlier path neurons moving, scores candidate j by
//
//	(Σ_i g_l,j(α_i) + Σ_{k<l} Σ_i g_k,p_k(α_i)) × (a_l,j/m + Σ_{k<l} a_k,p_k/m)
//
// and appends the argmax (the lowest index on ties, as torch.argmax). The baselines are the
// per-layer activation argmax (scored with its JAS, as the published code does) and the
// per-layer activation top-K (the topk/ code's base path). PathOptions.Width K > 1 runs the
// topk/ variant of the search, which keeps the top K candidates per layer, moves all K in later
// passes and, as its code does, reads only the last (K-th best) of them in the score's sums.
//
// For a causal model the target at pos depends on no later position and the intervention
// changes no earlier one, so each pass runs m rows of the single token at pos on top of the
// clean pass's keys and values: a pass costs about m one-token forward+backward passes. On
// testdata/world-llama (4 layers, m = 20) a prompt takes 0.03 s, 0.36 of L·m single
// forward+backward passes of the whole prompt; on the GPT-2-small shape (12 layers, a
// 32-token prompt) 20 s on the loaded benchmark machine, 0.15 of L·m (BenchmarkNeuronPath).
//
// The published method's behaviour, reproduced rather than fixed: the score multiplies two
// sums, so a candidate whose gradient sum and activation sum are both negative scores high
// (PathResult.Factors shows both), and the greedy path need not have the highest JAS. On
// testdata/world-llama, over 100 evaluation questions (every 23rd), 174 of the 400 chosen path
// neurons had both factors negative, and the activation-argmax path had the higher JAS on 13
// questions.
//
// NeuronPathImage and JointAttributionImage run the published ViT setting: the CLS token's
// units, the class probability read from CLS. Attention is bidirectional, so each pass reruns
// every token of the image (m rows of the whole image, from the clean blocks.0.hook_resid_pre);
// only the CLS rows are replaced, the other tokens recomputed, as in the published forward.
// A search so costs L + 2 batched passes of m whole-image rows, about (L+2)/L of L·m single
// forward+backward passes of the image (BenchmarkNeuronPathImage, ViT-Ti/16 shape: 222 s per
// image and 3.4 L·m-equivalents on this 2-core machine at load average 12-15, a noisy figure;
// batch-20 and batch-1 gradient passes scaled linearly in a side-by-side run).
//
// `find path` records each item's position and target token in its set's settings
// (PathSettings, read back by PathSettingsOf), so package ablate can remove and enhance every
// prompt's own path where it was found (ablate.PathItems, ablate.VerifyPaths). ComparePaths
// compares the paths of items with the same and with different label values: the mean
// PathSimilarity of each kind of pair and a permutation p-value of their difference.
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
