// Package decompose factorises MLP activations into features with semi-nonnegative matrix
// factorisation (SNMF), exactly as Shafran, Geiger & Geva (2025, "Decomposing MLP Activations
// into Interpretable Features via Semi-Nonnegative Matrix Factorization", arXiv 2506.10920)
// publish it in ordavid-s/snmf-mlp-decomposition (factorization/seminmf.py,
// factorization/hierchichal_snmf.py, experiments/snmf_interp/*; read at commit ab58c781a662).
//
// Entry points: SNMF (collected activations, float32) and its generic form Fit; Hierarchical /
// FitHierarchy; Features.Coefficients (a feature's activation on new tokens); ProjectVocab;
// NewReport, Write and Read (the neuronscope.features/v1 output); Activations, FileSource and
// Activations.AppendBatch (input).
//
// # Problem
//
// The MLP hidden activations of one layer (blocks.L.mlp.hook_post, the input of W_out: GELU(pre)
// for GPT-2, act(gate)·up for gated MLPs) over n tokens form A [d_mlp, n], one column per
// non-pad, non-BOS token. SNMF finds
//
//	A ≈ F Gᵀ,   F [d_mlp, k] mixed-sign and sparse (each column keeps a few neurons),
//	            G [n, k] ≥ 0 (how much each token uses each feature).
//
// The paper calls F "Z" (its columns are the MLP features) and Gᵀ "Y". Activations are held as
// rows: Activations.Rows is [n, d_mlp] row-major, row t = token t = column t of A, so A = Rowsᵀ.
//
// # The algorithm (Fit)
//
// From G0 (see Inits), every iteration does, in this order:
//
//  1. F step (closed-form least squares with a ridge): F ← A G (GᵀG + reg·I)⁻¹, reg = 1e-6.
//  2. Hard winner-take-all on each column of F: keep the entries with |F_ij| ≥ the k-th largest
//     |F_·j|, k = max(1, ceil(sparsity·d_mlp)) (KeptPerFeature; GPT-2 small 31, Gemma-2-2B 93,
//     Llama-3.1-8B 144); zero the rest. The ≥ keeps ties, so a column can keep more than k.
//  3. Hoyer rescaling: c_j = max(‖G_·j‖, 1e-8); G_·j ← G_·j / c_j; F_·j ← F_·j · c_j. G's
//     columns now have unit norm and F carries the scale.
//  4. Ding, Li & Jordan (2010) multiplicative update of G, with P = AᵀF [n, k], Q = FᵀF [k, k],
//     X⁺ = (|X| + X)/2, X⁻ = (|X| − X)/2:
//     G ← G ⊙ sqrt( (P⁺ + G Q⁻) / (P⁻ + G Q⁺ + 1e-6) ).
//  5. Loss ‖A − F Gᵀ‖²_F (after the G update, with the F of this iteration).
//
// # Convergence and the returned factors
//
// The loss of every iteration is recorded (Factors.Loss, the loss curve). An iteration improves
// when its loss is below the best so far minus Tol (absolute, 1e-4, whatever the scale of A);
// then F and G are copied as the best iterate. The fit stops after MaxIter iterations or after
// Patience consecutive iterations without improvement, and returns the best iterate: F, G,
// BestLoss = Loss[BestIter]. The loss is not monotone (the winner-take-all step is not a descent
// step), which is why the best iterate is kept.
//
// # Defaults
//
// DefaultOptions are the published ones: sparsity 0.01, patience 1500, tolerance 1e-4, ridge
// 1e-6, random init, seed 42, and — from the shipped run scripts (experiments/run_snmf_*.sh) —
// rank 50 and at most 2000 iterations. train.py's own argparse defaults are rank 100 and
// 200000 iterations; NMFSemiNMF.fit's are 500 iterations and patience 100 (what the
// hierarchical code uses unless told otherwise; see DefaultHierarchyOptions). The report sizes
// (DefaultReportOptions) are the scripts': 25 top tokens with 15 context tokens on each side, 75
// vocabulary tokens.
//
// # Inits
//
//   - InitRandom (published default): G0 = U[0,1) clamped at ≥ 1e-6. The draws are exactly
//     torch.rand(n, k) on the CPU after torch.manual_seed(Seed) (mt19937, low 24 bits of each
//     32-bit output; checked against torch 1.13), so a CPU PyTorch run seeded the same starts
//     from the same G0. The published F0 = randn is overwritten by step 1 and is not drawn.
//   - InitSVD (published init_svd, after Ding et al. eq. 17–18): with A ≈ U Σ Vᵀ truncated to
//     k, G0 = V √Σ clamped at ≥ 1e-6.
//   - InitKMeans (published init_knn): k distinct random columns of A as centres, 15 Lloyd
//     iterations (nearest centre by ‖a‖² + ‖c‖² − 2a·c, first index on ties; an empty cluster's
//     centre is redrawn as a random column), G0 = one-hot(assignment) clamped at ≥ 1e-6.
//
// The published tutorial notes the inits perform the same. On planted data they do not always:
// a single start can stop in a local optimum that merges two planted features (on six planted
// 1500×200 rank-6 matrices, 11 of 24 random starts and 3 of 6 k-means starts did; their loss was
// clearly higher, and the lowest-loss of four random starts always recovered the planted
// features, as did the SVD init every time). Run a few seeds and keep the lowest BestLoss, or
// use InitSVD.
//
// # Hierarchical SNMF
//
// FitHierarchy runs the published train_hierarchical_nmf: level 1 factorises A (rank r_1);
// level l+1 factorises level l's features F_l [d_mlp, r_l] (its "tokens" are the r_l features,
// so G_{l+1} [r_l, r_{l+1}] says how much each finer feature uses each coarser one), with the
// same settings. With the random init the levels draw from one continuing stream, as the
// published code does with torch's global generator (level l's G0 follows level l−1's G0 and
// the draws of its unused randn F0). Then, optionally, a joint fine-tune: Adam (lr 1e-3, β =
// 0.9, 0.999, ε = 1e-8, as torch.optim.Adam) on mean((G_1 G_2 ⋯ G_L F_Lᵀ − Aᵀ)²) over copies of
// all the G and of F_L, for FineTuneIters steps (published default 500; the tutorial uses
// 2500). The levels keep their fitted values (the published analysis reads them).
//
// # Features as units
//
// A feature's activation on a new token x [d_mlp] is its coefficient in the exact non-negative
// least-squares fit g(x) = argmin_{g ≥ 0} ‖x − F g‖² (Features.Coefficients; Lawson–Hanson
// active set on the normal equations FᵀF g = Fᵀx). This is the subproblem the G update solves
// approximately, one multiplicative step per iteration, for the training tokens; on new tokens
// the exact solution needs no init or iteration count, is unique when FᵀF is positive definite,
// and is the point the multiplicative update converges to. On the training tokens it fits every
// token at least as well as the fitted G. g_j·‖F_j‖ is the activation along the unit direction
// F_j/‖F_j‖ (the steering direction of the paper).
//
// # Vocabulary projection
//
// ProjectVocab follows generate_vocab_proj.py: z = F_j/‖F_j‖, logits = W_U · ln_final(W_out z)
// with the model's whole final norm (centring for LayerNorm, the division by sqrt(var + eps) or
// sqrt(mean(y²) + eps), the weight — 1 + weight for Gemma — and the bias) and no b_out; the top
// K tokens of +z (Top) and of −z (Negated, what the published code lists for steering sign −1;
// with a norm bias this is not the bottom of +z). The published code treats Gemma 2
// differently, and so does ProjectVocab for every model with a post-feed-forward norm (Gemma
// 2/3): the feature F_j as fitted goes through W_out, b_out and that norm, ln2_post, before the
// final norm, logits = W_U · ln_final(±ln2_post(W_out F_j + b_out)). Gemma 1 has no such norm
// and takes the general path. The logits are before any final soft-cap (Gemma 2), as the
// published code's.
//
// # Input
//
// Activations are appended with Append ([m, d_mlp] rows) or AppendBatch (a [batch, pos, d_mlp]
// hook tensor with its model.Batch): the seam for any source. ModelSource streams a model over
// a dataset's contexts (corpus.Contexts, batched by corpus.Run) and appends one hook point's
// activations per forward pass, applying the memory bound as rows arrive (`neuronscope
// decompose snmf --model DIR --data FILE` first counts the rows and refuses a dataset that
// would exceed it before the model runs). FileSource reads a
// safetensors file: one tensor [n, d_mlp], or `neuronscope trace` output (the hook tensor by
// name, input_ids and attention_mask). Pads (mask 0) are always dropped; TokenFilter.BOS drops
// every token with the BOS id wherever it occurs — the published mask (ids ≠ pad ∧ ids ≠ bos),
// which also drops a literal BOS token inside a text — and DropFirst drops each sequence's first
// real token. NaN or ±Inf in a kept row is an error naming the row and neuron.
//
// Memory: A is held as float32, d_mlp·n·4 bytes, bounded by Activations.MaxBytes (default
// DefaultMaxBytes = 4 GiB: 349,525 tokens of GPT-2 small's 3072 neurons, 74,898 of
// Llama-3.1-8B's 14336); appending beyond it is a *LimitError and appends nothing. A fit needs
// on top of A about (2n + 11·d_mlp)·k·4 bytes: G and its best copy, F, its best copy, A G and
// up to 8 lanes of partial A G (14 MB at d_mlp 3072, n 8192, k 100, against A's 100 MB).
//
// Features as units: a feature's activation on a new token x is its coefficient in the exact
// non-negative least-squares fit g(x) = argmin_{g ≥ 0} ‖x − F g‖² (Features.Coefficients,
// Lawson–Hanson on the normal equations), chosen over running the multiplicative update with F
// fixed because it needs no init or iteration count and is what that update converges to.
// `neuronscope profile --features DIR` profiles these activations as the units
// blocks.L.mlp.hook_post.snmf (hooks.MLPPostSNMF); `verify` and `steer` ablate (project out of
// mlp.hook_post) or steer along α·F_j/‖F_j‖ (package ablate).
//
// # Output (neuronscope.features/v1)
//
// Write puts three files in a directory, atomically (all written under temporary names, then
// renamed): features.safetensors with F [d_mlp, k] as "F" (and G [n, k] as "G" when kept);
// features.json, the Report (tap, sizes, dropped tokens, settings, the loss curve and fit
// summary, and per feature its neurons with signed weights, G statistics, top tokens with their
// contexts, the vocabulary projection; provenance); and neurons.json, the features' neurons as
// a neuronscope.neurons/v1 set with one group per feature. Read reads it back and checks it.
//
// # Numerics and speed
//
// The float32 path (SNMF, Fit[float32]) does its matrix products through gonum's blas32 (OpenBLAS
// with -tags openblas, via internal/linalg); Fit[float64] exists for checking and uses gonum's
// blas64. One fused pass over the tokens per iteration, in blocks, computes P = AᵀF from F's
// non-zeros only (about k·ceil(sparsity·d_mlp) products per token instead of k·d_mlp), the G
// update, the loss, and the products the next F step needs (A G, GᵀG and G's column norms), so
// A is read once per iteration and the dense products are A G, G Q± and GᵀG only; FᵀF comes from
// F's non-zeros. The tokens are split into at most 8 lanes whose layout depends on n only, so
// results are bit-identical for any GOMAXPROCS.
//
// The loss is exact: ‖a_t − F g_t‖² = ‖a_t‖² + Σ_i r_i (r_i − 2 a_ti) over the neurons some
// feature uses, r = F g_t, accumulated in float64 from the float32 factors (products of float32
// numbers are exact in float64). BestLoss therefore equals ‖A − F Gᵀ‖² of the returned factors
// to float64 rounding, and the Tol comparisons are decided on the true loss. The published
// float32 loss (torch.norm of the float32 residual, squared) is off by up to 6e-4 relative at
// GPT-2 size (measured: 4330528.5 against 4333286.7 in float64 for the same factors), which at
// the absolute tolerance 1e-4 makes its patience counter noise-driven.
//
// Speed, measured with BenchmarkSNMFIteration against testdata/bench_snmf_torch.py (the
// published loop in PyTorch) on the same matrix and G0 at d_mlp 3072, n 8192, rank 100, run
// alternately by `sh decompose/testdata/bench_compare.sh THREADS ROUNDS` on the project's
// 2-core machine while other jobs shared it (load 12–20): single-threaded, one iteration took
// 145–148 ms of CPU with OpenBLAS against 528–546 ms for PyTorch 1.13 on the same OpenBLAS
// (3.6×; wall-clock 670–829 ms against 2535–2559 ms); with two threads the Go side still used
// 149 ms of CPU per iteration (the lanes add no work) against torch's 775 ms. Earlier, at load
// 1.9, two threads took 127–140 ms wall-clock against a torch median of 552 ms (min 322). The
// pure-Go build (no OpenBLAS) needs about 575 ms of CPU per iteration.
//
// Checks: TestParityTorch64 matches the published loop in float64 PyTorch from the same G0 to
// about 3e-15 relative in the loss over 10 iterations (F and G to 1e-9); TestParityTorch32 and
// TestHierarchyParityTorch64 likewise; the references are made by testdata/snmf_reference.py.
//
// # Deviations from the published code (all rounding-level or documented choices)
//
//   - The loss is computed exactly (above) instead of in float32.
//   - The k×k inverse is computed in float64 (LU with partial pivoting, like torch.linalg.inv)
//     from GᵀG; FᵀF and the k-means centres are accumulated in float64. Rounding only.
//   - InitSVD takes the top k singular triplets by block subspace iteration with Rayleigh–Ritz
//     (k + 20 directions, until the top-k Ritz values settle to 1e-12 relative in float64, 1e-7
//     in float32) instead of a full LAPACK SVD, and signs each singular vector so its entries
//     sum to ≥ 0. LAPACK's signs are arbitrary; the published G0 clamps a negatively signed
//     vector to 1e-6 everywhere, losing that component.
//   - InitKMeans draws its centres with its own Fisher–Yates permutation of the same mt19937
//     stream, not torch.randperm: same procedure, different draws.
//   - When the loss becomes NaN or ±Inf (overflow), the fit stops at once with StopNonFinite and
//     returns the best iterate; the published loop would run Patience more non-improving
//     iterations and return the same best iterate. Overflow in the first iteration is an error.
//
// # Quirks of the published code, reproduced
//
//   - The argparse help calls sparsity an "L1 sparsity weight"; it is the kept fraction.
//   - Returned G columns are not exactly unit norm: the best copy is taken after the G update.
//   - A G entry that reaches 0 stays 0 (multiplicative update).
//   - The tolerance is absolute (1e-4) whatever the scale of A.
//   - The hierarchical fine-tune is unconstrained Adam: G entries can turn negative and F_L
//     loses its sparsity; the levels are not updated.
//   - The vocabulary projection uses the unit feature, the full final norm and no b_out; the
//     negative list is the projection of −z.
package decompose
