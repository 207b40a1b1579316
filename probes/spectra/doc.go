// Package spectra measures the eigenspectra of FFN activations the way NerVE does (Jha &
// Reagen, ICLR 2026, "Nonlinear Eigenspectrum Dynamics in LLM Feed-Forward Networks";
// reference code nerve/metrics.py and nerve/analyzer.py), from activations streamed batch by
// batch into float64 covariance accumulators.
//
// # Use
//
//	pairs := make([]*spectra.Pair, nLayers)
//	for l := range pairs {
//		pairs[l] = spectra.NewPair(l, dMLP, spectra.Options{})
//	}
//	var batch model.Batch
//	obs := spectra.Observers(pairs, func() []bool { return batch.Mask })
//	for each batch: m.Forward(batch, obs...)   // hook_pre → Pre, hook_post → Post, padding dropped
//	// (or call pairs[l].Pre.AddMasked(act.Data, mask) yourself with [batch, pos, d_mlp] rows)
//	rep, err := spectra.Analyze(pairs, report.New(), spectra.AnalyzeOptions{})
//	report.WriteJSONFile("spectra.json", rep)
//	spectra.SavePlot("spectra.png", rep.Layers)        // or .svg
//
// # Collection points
//
// Pre is the FFN pre-activation: the W_in output of a non-gated MLP (GPT-2 c_fc, Pythia
// dense_h_to_4h) and the gate_proj output of a gated one; in TransformerLens names
// blocks.L.mlp.hook_pre in both cases. Post is the input of W_out/down_proj,
// blocks.L.mlp.hook_post (for SwiGLU: silu(gate)·up). Activations are flattened
// [batch, pos, d_mlp] → [N, D]; padding positions are dropped (AddMasked).
//
// # Covariance
//
// Covariance keeps N, the column mean μ and the scatter M2 = Σ (x−μ)(x−μ)ᵀ in float64 (NerVE
// computes in float32; float64 is a deliberate improvement). Each batch (split into chunks of
// Options.ChunkRows = 1024 rows) is summarised by its mean m_b and its centred scatter S_b,
// computed as one rank-k update (SYRK: the GEMM AᵀA of the centred [k, D] chunk, upper
// triangle only, in row strips of 256), and merged with Chan, Golub & LeVeque's pairwise
// update
//
//	n = n_a + k,  δ = m_b − μ_a,  μ = μ_a + δ·k/n,  M2 = M2_a + S_b + δδᵀ·n_a·k/n.
//
// All of it is kept relative to a per-column reference K (the first chunk's mean), so
// rounding scales with a column's spread rather than the size of its mean: tests match a
// two-pass float64 computation to 1e-13 relative (entries compared with √(M2ᵢᵢM2ⱼⱼ)) on data
// with a mean/σ ratio of 10⁵. Merge folds one accumulator into another with the same formula:
// the result is that of a single pass over the union of their rows, whatever the split and
// order (up to float64 rounding), which is what a distributed or resumed run needs;
// MarshalBinary/UnmarshalBinary store an accumulator for that. Options.Float32Products
// computes S_b with float32 products (about 2× faster with OpenBLAS; entries then carry
// ~√k·2⁻²⁴ relative error, 2e-7 measured at k = 64) while the means, the centring and all
// accumulation stay float64. Memory: M2 is stored as its upper triangle in strips,
// D(D+256)/2 float64 (41 MB for D = 3072; 0.8 GB for D = 14336).
//
// Matrix returns NerVE's covariance Σ = M2/(N − 1 + 1e-12) (unbiased, with NerVE's guard),
// and Eigenvalues its eigenvalues (LAPACK dsyevd with -tags openblas, gonum's Dsyev
// otherwise; see probes/internal/kernels for the cost).
//
// # Measures
//
// A spectrum is the eigenvalues sorted descending and clamped at 1e-12 (Spectrum), with
// λ̂ᵢ = λᵢ/(Σλ + 1e-12). Exactly as nerve/metrics.py, 1e-12 guards included:
//
//	SE  = −Σ λ̂ᵢ ln(λ̂ᵢ + 1e-12)                                       range [0, ln D]
//	PR  = (Σλ + 1e-12)² / (Σλ² + 1e-12)                               range [1, D]
//	EEE = clamp(Σ_{k=1..D} (C_k − k/D) / (D/2 + 1e-12), 0, 1),
//	      C_k = Σ_{i≤k} λᵢ / (Σλ + 1e-12)                              range [0, 1)
//	JS  = ½ KL(p‖m) + ½ KL(q‖m), m = (p+q)/2,
//	      KL(a‖b) = Σ aᵢ ln((aᵢ + 1e-12)/(bᵢ + 1e-12))                 range [0, ln 2]
//
// with p, q the normalised pre and post spectra, the shorter zero-padded. JS is the
// Jensen-Shannon divergence (NerVE's "JS"), not its square root. Derived per layer:
// pr_gain = PR_post / max(PR_pre, 1e-12) and eee_diff = EEE_post − EEE_pre (NerVE's
// "reinjection" shows as pr_gain > 1, flattening as eee_diff < 0). Summary is the mean of each
// over layers (NerVEResult.summary). Acceptance values (algorithms.md §9), tested to 1e-6:
// uniform D=4 gives SE ln 4, PR 4, EEE 0; rank-1 D=4 gives SE 0, PR 1, EEE 0.75; [4,3,2,1]
// gives SE 1.279854, PR 10/3, EEE 0.25; JS([.4,.3,.2,.1], uniform) = 0.0278656.
//
// # Rank
//
// With N tokens the sample covariance has rank at most N − 1: when N ≤ D, at least D − N + 1
// eigenvalues sit at the 1e-12 floor, which shifts SE and EEE. Every Side reports RankBound
// = min(N−1, D), NumericalRank (eigenvalues above D·2⁻⁵²·λ_max, numpy's matrix_rank rule)
// and AtFloor (eigenvalues ≤ 1e-12), and Layer.Warnings (repeated in Report.Warnings) names
// every spectrum with N ≤ D. Use at least D + 1 tokens, in practice many more. In the
// extreme of a zero covariance (one token, or a dead tap) every eigenvalue is at the floor
// and NerVE's guards dominate: λ̂ᵢ = 1/(D+1), SE = D/(D+1)·ln(D+1) and PR ≈ 1e-12·(D+1)²,
// below its nominal range; these are NerVE's values, reproduced, and flagged by the warning.
//
// # JSON
//
// Report (schema neuronscope.spectra/v1) holds provenance, one Layer per layer
// ({"layer", "pre": Side, "post": Side, "js", "pr_gain", "eee_diff", "warnings"}; a Side has
// "point", "se", "pr", "eee", "tokens", "width", "rank_bound", "numerical_rank", "at_floor"
// and, with AnalyzeOptions.KeepEigenvalues, "eigenvalues") and the summary with NerVE's
// "<measure>_mean" names.
//
// # Plot
//
// WritePlot/SavePlot draw a 2×2 figure (PNG or SVG, gonum/plot): SE, PR and EEE per layer,
// pre and post, and JS per layer.
//
// # Cost
//
// A chunk of k rows costs about k·D(D+256)/2 multiply-adds (one strip SYRK), plus O(k·D) for
// the mean and centring and D²/2 for the merge. For GPT-2 small (D = 3072, pre and post in
// 12 layers) that is 24 × 10.2 MFLOP per token against ≈ 250 MFLOP per token for the forward
// itself: the covariances alone cost as many flops as the forward, so accumulating every
// layer's pre and post at GEMM speed costs about one more forward in float32 products and
// two in float64 (dgemm runs at about half the sgemm rate). BenchmarkSpectraCommand (the
// command end to end, OpenBLAS, random GPT-2 small, 8,192 tokens, on an otherwise idle 2-core
// machine) measured streaming / plain forward = 2.73 with float64 products and 2.02 with
// Float32Products (the 1.2 is not reached); earlier runs of BenchmarkSpectraOverhead
// on a shared machine gave 2.2–2.7 and 1.7–2.0. Not done: hook_pre = W·x + b is linear, so its
// covariance could be W·Σ_x·Wᵀ from the d_model-wide input, leaving one D-wide update per layer.
// The update alone (BenchmarkCovarianceUpdate) ran at 38 GFLOP per CPU-second in float64 and 65 in float32.
// The 24 eigendecompositions at the end (BenchmarkEigenvalues: 2–5 s each with OpenBLAS,
// about 30 s in pure Go, two at a time) are negligible against a 1M-token run. Restricting
// the taps (layers, pre or post) or the tokens (a sparser mask) scales the overhead down
// proportionally.
package spectra
