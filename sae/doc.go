// Package sae trains, evaluates and runs sparse autoencoders (SAEs) on transformer activations:
// OpenAI's TopK SAE (with AuxK and, optionally, BatchTopK), the ReLU SAE with a
// decoder-norm-weighted L1 penalty (Anthropic, April 2024; SAELens "standard") and the
// JumpReLU / threshold SAE (Rajamanoharan et al. 2024; the atoms paper's TSAE). SAEs are read
// and written in SAELens's format, spliced into a model at their hook, and measured with the
// standard metrics. Every forward and backward pass is written out (no autograd); matrix
// products go through internal/linalg (gonum blas32, OpenBLAS with -tags openblas).
//
// # Entry points
//
//	s, err := sae.Load("dir")                       // SAELens cfg.json + sae_weights.safetensors
//	z := s.Encode(nil, x)                           // x [n, d_in] → latents [n, d_sae]
//	dir := s.Direction(j)                           // latent j's decoder direction [d_in]
//
//	cfg := sae.DefaultTrainConfig(sae.TopK, dIn, 4*dIn, steps, 1024)
//	tr, err := sae.NewTrainer(cfg)
//	err = sae.Train(sae.NewShuffled(rows, seed), []*sae.Trainer{tr}, sae.RunOptions{...})
//	err = tr.SAE("blocks.3.mlp.hook_post", 3, "my-model").Save("out", sae.SaveOptions{})
//
//	sp, err := sae.NewSplice(s, m.Catalog(), sae.SpliceOptions{ErrorTerm: true,
//	        Interventions: []sae.Intervention{sae.Ablate(12), sae.Steer(7, 4)}, CaptureLatents: true})
//	res, err := m.Forward(batch, sp.Option())       // latents: sp.Latents() [batch, pos, d_sae]
//
//	mt, err := sae.Evaluate(s, rows, 0, 4096)       // FVU, NMSE, L0, dead and dense fractions
//	mt, lm, err := sae.EvaluateInModel(m, s, seqs, 32, pad) // + CE increase, loss recovered
//
// The command line is `neuronscope sae train|eval|convert`.
//
// # Shapes and layout
//
// Activations are rows: x [n, d_in], one row per token (a [batch, pos, d_in] hook tensor is
// n = batch·pos rows; pads are dropped by the sources). An SAE's weights are SAELens's,
// row-major: W_enc [d_in, d_sae], b_enc [d_sae], W_dec [d_sae, d_in], b_dec [d_in],
// threshold [d_sae] (JumpReLU). Latent j reads column j of W_enc and writes row j of W_dec.
// Pass holds one batch's hook_sae_acts_pre [n, d_sae], hook_sae_acts_post (latents)
// [n, d_sae] and output [n, d_in]. A Trainer keeps both matrices latent-major,
// enc [d_sae, d_in] = W_encᵀ and dec [d_sae, d_in], so the sparse TopK backward touches whole
// contiguous rows.
//
// # Architectures (inference, SAELens semantics)
//
// With x' = norm_in(x) − a·b_dec (a = apply_b_dec_to_input) and p = x'·W_enc + b_enc:
//
//	topk      z = ReLU(TopK_k(p)): the k largest pre-activations of each token, then ReLU
//	          (ties go to the lower index); with rescale_acts_by_decoder_norm the selection is
//	          on p_j·‖W_dec[j]‖ and z_j is divided by ‖W_dec[j]‖ before decoding
//	standard  z = ReLU(p)
//	jumprelu  z = p·1[p > θ] (and p > 0)
//
// and x̂ = norm_out(z·W_dec + b_dec). normalize_activations is "none", "expected_average_only_in"
// (the identity at inference: training folded its constant into the weights, as in SAELens 6),
// "constant_norm_rescale" (x·√d_in/‖x‖ in, undone on the way out) or "layer_norm"
// (x ← (x − mean)/(std + 1e-5) with the unbiased std, out x̂·std + mean; OpenAI's released
// TopK checkpoints).
//
// # Training objectives and their reference implementations
//
// TopK follows OpenAI's sparse_autoencoder/train.py (commit 4965b941), on the CPU:
//
//	L = mse_scale·mean((x̂ − x)²) + auxk_coef·mean((r − t)²)/mean((t − t̄)²)
//
// where mse_scale = 1/mean((x − x̄)²) over the statistics sample, r is the decode (plus b_pre)
// of the top-auxk pre-activations among dead latents, t = x − x̂ + b_pre with x̂ and b_pre held
// constant (the reference's detach()), and t̄ the batch mean of t. Quirks kept from the
// reference: the AuxK term exists even when no latent is dead (its prediction is then b_pre
// alone, the term ≈ 1/32, and it still moves b_pre); a latent "fires" when a kept
// pre-activation exceeds 1e-3 (before the ReLU); its steps-since-firing counter becomes 1 when
// it fires and grows by 1 otherwise, and it is dead when the counter exceeds
// dead_tokens/batch (integer division); the initialisation's probe forward pass sets every
// counter to 1. After backward, every decoder row is renormalised to unit norm and the
// gradient component parallel to it is projected out; then (if ClipNorm > 0) gradients are
// scaled by clip/max(‖g‖, clip), then Adam (β = 0.9, 0.999, ε = 6.25e-10, lr 1e-4, constant).
// The decoder is therefore unit-norm when the gradient is taken and drifts by one Adam step
// after it, as in the reference; saved SAEs are not renormalised. Initialisation: encoder rows
// U(−1/√d, 1/√d) (nn.Linear's default), decoder = encoder with unit rows ("tied init"), b_pre =
// geometric median of the first 32768 sample rows (Weiszfeld as geom_median computes it:
// from the mean, ε = 1e-6, 100 iterations, ftol 1e-20), b_enc = 0, then the encoder divided by
// the mean norm of (reconstruction − b_pre) of 256 random unit vectors shifted by b_pre. The
// reference trains in mixed precision on GPUs; here everything is float32 with float64
// reductions. Its optional weight EMA is not implemented. As in the reference's kernels, only
// the encoder's forward product is dense (n·d_in·d_sae); decoding, the decoder's gradient, the
// gradient of the latents and the encoder's gradient touch only each token's kept and AuxK
// latents (n·(k + k_aux)·d_in), the weight gradients summed latent by latent. AuxK defaults to min(256, d_sae)
// (the code's default; the paper's k_aux differs).
//
// BatchTopK (TrainConfig.BatchTopK) keeps the k·n largest positive pre-activations of a batch
// of n tokens instead of k per token; everything else is the TopK recipe. Like SAELens, it
// tracks θ ← (1 − 0.01)·θ + 0.01·(smallest kept activation) and saves a JumpReLU SAE with that
// threshold for every latent.
//
// Standard (ReLU) follows SAELens's StandardTrainingSAE with Anthropic's April 2024 recipe:
//
//	L = (1/n)·Σ_tokens ‖x̂ − x‖² + λ_t·(1/n)·Σ_tokens Σ_j z_j·‖W_dec[j]‖
//
// The decoder-norm weighting is not detached, so it also shrinks decoder norms; there is no
// unit-norm constraint. λ_t = λ·min(t, W)/W over W = 5% of the steps (0 at the first step, as
// SAELens's coefficient scheduler gives it); defaults λ = 5, lr 5e-5 decayed linearly to 0
// over the last 20% of steps, Adam (0.9, 0.999, 1e-8), gradients clipped to norm 1
// (torch.nn.utils.clip_grad_norm_, with its 1e-6), inputs scaled by c = √d_in/mean‖x‖ over the
// statistics sample (so E‖x‖ = √d_in; folded into the saved weights: W_enc·c, W_dec/c,
// b_dec/c), W_dec rows Kaiming-uniform rescaled to norm 0.1, W_enc = W_decᵀ, biases 0, and
// b_dec not subtracted from the input (Anthropic's f = ReLU(W_e·x + b_e)). These rates are
// meant for long runs on large models; short runs on small ones want a larger --lr.
//
// JumpReLU follows SAELens's JumpReLUTrainingSAE (step sparsity mode):
//
//	L = (1/n)·Σ ‖x̂ − x‖² + λ_t·(1/n)·Σ_tokens Σ_j H(p_j − θ_j),   θ = exp(log θ)
//
// with rectangle-kernel straight-through estimators, K(u) = 1[|u| < 1/2] and bandwidth ε:
// ∂z/∂p = 1[p > θ], ∂z/∂θ = −(θ/ε)·K((p − θ)/ε), ∂H(p − θ)/∂θ = −(1/ε)·K((p − θ)/ε), no
// gradient from H to p, and ∂L/∂log θ = θ·∂L/∂θ. SAELens's initialisation (as for standard),
// ε = 0.05, λ_L0 = 1 (SAELens's default) warmed up over 5% of steps, clipping 1, input scaling
// as above, b_dec subtracted from the input. Two defaults differ from SAELens (θ₀ = 0.01, lr
// 3e-4) so that ordinary runs reach a low L0: θ₀ = 0.1 and lr 3e-3. Adam moves log θ by about
// lr per step whatever λ is, so the thresholds need about |log θ₀ − log θ*|/lr steps to reach
// the scale of the codes, and with SAELens's values a run of a few thousand steps stays dense
// (algorithms.md §8b: L0 ≈ 1949 of 2048 after 2000 steps). Measured on the demo model
// (testdata/world-llama, blocks.2.mlp.hook_post, 24,574 tokens, 2048 latents, batch 512, 1000
// steps; FVU and L0 over the training tokens):
//
//	lr     θ₀    λ   FVU     L0     dead   dense (>10%)
//	3e-3   0.01  1   0.0018  255.5  0%     64%
//	1e-2   0.01  1   0.0146    7.0  49%    0.1%
//	3e-3   0.1   1   0.0041   70.7  0%     1.8%    ← defaults
//	3e-3   0.1   3   0.0041   69.6  0%     1.8%
//
// λ barely matters over such a run (Adam normalises the gradient's size); L0 keeps falling
// with more steps. For a lower L0 train longer or raise the learning rate.
//
// All architectures use PyTorch's Adam arithmetic, p −= (lr/(1−β₁ᵗ))·m/(√v/√(1−β₂ᵗ) + ε),
// AdamW when WeightDecay > 0 (matrices only). Package model/train's AdamW is not reused: it is
// an unexported method of its Trainer over a model's parameters and a gradient map keyed by
// weight name, it rounds the same update differently from PyTorch (m̂/(√v̂ + ε) rather than
// (lr/(1−β₁ᵗ))·m/(√v/√(1−β₂ᵗ) + ε)), its moments are not exposed for checkpoints, and its schedule (warm-up then
// cosine to a floor) lacks SAELens's final linear decay. Sharing it would mean changing
// model/train; the SAE optimiser is twenty lines here. TrainConfig.Rate is SAELens's schedule: linear warm-up
// lr·(s+1)/W, then constant (or cosine to lr_end), then a linear decay to 0 over the last D
// steps.
//
// # Data
//
// A Batcher fills batches of rows. Shuffled draws in-memory Rows (e.g. an activation file
// opened with OpenActivations, which maps F32 data without copying and drops pads of trace
// files) in seeded epochs. ShuffleBuffer turns any RowProducer (rows in a fixed order) into
// shuffled batches with bounded memory: Capacity rows plus two prefetched chunks; a
// background goroutine refills it, and its output depends only on the producer's order and
// the seed. ModelProducer is a RowProducer that runs a model over token sequences and emits
// the hook activations of real tokens, several hooks side by side; it can seek, so a
// ShuffleBuffer over it checkpoints; SetDropLeading leaves out each sequence's leading BOS
// positions (corpus.Context.BOS). `neuronscope sae train --model DIR --data FILE` builds exactly
// this: the dataset cut by corpus.Contexts, a looping ModelProducer and a ShuffleBuffer of
// --buffer rows, so memory is bounded by the buffer (and the dataset's token ids).
// Several SAEs train from one pass: Train feeds every Trainer the same batches, each reading
// its own columns (TrainConfig.Column) of the rows, so different k, λ or layers share the
// model's forward passes. The statistics sample (initialisation) is the first StatsRows rows
// the batcher yields.
//
// # Determinism, checkpoints
//
// Training is a function of the TrainConfigs, the batcher's data and seed: every reduction
// runs in a fixed order (column sums row by row, latent gradients latent by latent in row
// order, chunked norms summed in chunk order), so results do not depend on the number of
// threads either. Two runs on one build give bit-identical weights; builds with different
// BLAS libraries round differently. Train writes a checkpoint (weights, Adam moments, counters,
// scales, the batcher's position and buffered rows) atomically every CheckpointEvery steps;
// ReadCheckpoint + Checkpoint.Resume continue bit for bit, and refuse a run whose settings
// or data differ, listing the differences. A NaN or infinity in a batch, the loss or the
// gradients stops training with a *NonFiniteError naming the step, before the update, so the
// last checkpoint stays valid.
//
// # Metrics
//
// Evaluate and EvaluateInModel report FVU = Σ‖x − x̂‖²/Σ‖x − x̄‖² (x̄ the mean over the
// evaluated tokens; explained variance 1 − FVU), OpenAI's per-token NMSE mean(‖x − x̂‖²/‖x‖²),
// the MSE per element, L0 (mean active latents per token), the dead fraction (latents that
// never fire on the evaluated tokens) and the dense fraction (firing on more than 10% of
// them). EvaluateInModel also reports the next-token cross-entropy clean, with the SAE spliced
// in (its reconstruction replacing the activation, no error term) and with the hook
// zero-ablated: ce_increase = CE_spliced − CE_clean and loss_recovered = (CE_zero −
// CE_spliced)/(CE_zero − CE_clean), over positions whose next token is real.
//
// AtomEval computes the atoms paper's (Hu et al.) criteria under the atomic inner product
// ⟨u, v⟩_S = uᵀSv, S = (E[x xᵀ] + ρI)⁻¹ (Whitening; uncentred second moment as the paper
// writes E[k kᵀ]; the ridge ρ, by default 1e-6·tr/d, is our addition so dead units do not
// make S singular, and R² is sensitive to it on activations with nearly dead units):
// faithfulness R² = 1 − Σ‖x − x̂‖²_S/Σ‖x − x̄‖²_S, and stability q* = sup{q : μ_q <
// 1/(2K_q − 1)} with μ_q the q-quantile of the pairwise |normalised AIP| of decoder directions
// and K_q the q-quantile of per-token L0 (K ≤ 1 counts as 1). The paper's definitions are
// known to us only at the level of a summary; these are our reading of them, chosen so that
// the identity dictionary (neurons) gives R² = 1 and both numbers are invariant under an
// invertible linear map of the activations (tested).
//
// # Splicing
//
// NewSplice checks the SAE's hook_name against a model's catalog (it must exist and have d_in
// units per position) and returns a Splice whose Option replaces the activation at that hook
// by the SAE output, or, with ErrorTerm, adds back x − x̂ so that the model sees x exactly
// plus the decoded change of any edited latents (x + Σ_j Δz_j·W_dec[j], through the output
// normalisation): an SAE spliced with the error term and no interventions changes nothing,
// bit for bit. Interventions (Ablate, Clamp, Scale, Steer, or any func on the latents
// [batch, pos, d_sae]) run between encoding and decoding. The hooks catalog knows only the
// model's own points, so the latents come back through Splice.Latents rather than
// hooks.Capture; LatentsName is their SAELens name "<hook>.sae.hook_sae_acts_post".
//
// # Files
//
// Load reads SAELens directories of every layout SAELens has written: the 6.x layout (hook
// and model under "metadata") and the older flat one (hook_point, activation_fn_str,
// activation_fn_kwargs.k, boolean normalize_activations); unknown training keys are ignored,
// anything that would change the computation and is not supported is an error naming the
// file and key (architectures other than topk/standard/jumprelu, a head index, a fine-tuning
// scaling factor), as is a weight whose shape disagrees with cfg.json or an unexpected tensor.
// Save writes the 6.x layout (metadata.sae_lens_version "6.0.0") plus the flat keys
// (hook_name, hook_layer, model_name, activation_fn_str, ...) for older readers, weights
// first and cfg.json last, each atomically; cfg.json records the weights' sha256, which Load
// checks. Training checkpoints are trainer_state.safetensors (one file, metadata holds the
// JSON state). Activation files are safetensors: one float tensor [n, d], or
// `neuronscope trace` output ([batch, pos, d] per hook, input_ids, attention_mask).
package sae
