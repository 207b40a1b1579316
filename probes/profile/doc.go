// Package profile profiles every neuron of a model over a dataset in one streaming pass with
// bounded memory: statistics, top-k maximum and minimum activating contexts, quantile-bin
// samples and a histogram per neuron; checkpoints for resumable runs; exports as OpenAI
// NeuronRecord and Neuronpedia features; and a self-contained HTML dashboard.
//
// # Use
//
// The entry point is Profiler.Run, which streams a dataset through a model (package corpus)
// and observes every requested hook point without copying:
//
//	p := profile.New(profile.Options{})                  // defaults: top 20, 5×5 quantiles, ...
//	err := p.Run(m, points, func(yield func(corpus.Context) error) error {
//		return corpus.Contexts(corpus.FileDocuments("data.txt"), enc, corpus.ContextOptions{Ctx: 64}, yield)
//	}, profile.RunOptions{Batch: 8, AfterBatch: func(p *profile.Profiler) error {
//		return p.Save(path, fingerprint)                 // e.g. every N batches (atomic)
//	}})
//	p.Finish()
//	rep := p.Report(provenance, settings, profile.TokenNames(tok)) // the profile.json document
//	profile.WriteExports(dir, rep)                       // profile.json, NeuronRecord, Neuronpedia
//	profile.WriteHTML(w, rep, profile.HTMLOptions{})     // the dashboard
//
// Observe and EndBatch are the lower-level steps Run takes per batch, for callers with their
// own loop. The `neuronscope profile` and `neuronscope report` commands are thin wrappers.
//
// # Contexts and BOS
//
// A batch row is a Context: up to ctx token ids of one document (Len real tokens; the rest of
// the row is padding and is never counted), the document ordinal, the document position of its
// first token, and the context's ordinal in the run. The CLI cuts each document into contexts
// that never span documents: text is tokenized with the --bos policy (auto = HF's
// add_special_tokens); when the tokenized document starts with BOS, every continuation context
// starts with BOS again followed by the next ctx−1 tokens (so every context of such a model sees
// a BOS at position 0, as in training); otherwise contexts are plain ctx-token slices. A
// document's last context may be shorter. Token-id documents are used verbatim. Positions are
// positions in the tokenized document; a BOS prepended to a continuation context reports the
// position of the token before it.
//
// BOS positions (a context's leading BOS tokens, Context.BOS) are left out of every statistic,
// histogram, example list and quantile bin by default, as SNMF and most profilers do: a BOS
// activation describes the position (often an attention sink), not the text. An example's
// window still shows them; its max token is never one. A context of BOS alone is not offered to
// any list. Options.IncludeBOS counts them (the outputs are then those of a profiler that never
// heard of BOS, byte for byte); Report.BOSExcluded counts the positions left out.
//
// # Features and latents
//
// RunOptions.Units profiles units derived from a hook point's activations like its neurons: each
// Units encodes the point's [rows, d] activations into [rows, N] (an SNMF's exact non-negative
// coefficients with F fixed, an SAE's latents) and the profiler observes them under the units'
// hook name (ObserveUnits): "blocks.L.mlp.hook_post.snmf", "<hook>.sae.hook_sae_acts_post". Every
// statistic, example list, dashboard page and export then treats them as neurons of that hook.
//
// # Statistics
//
// Per neuron, over every counted token (real, and not a BOS position unless IncludeBOS; n
// observations x):
//
//   - count n, mean, and the central moment sums M2 = Σ(x−x̄)², M3 = Σ(x−x̄)³, M4 = Σ(x−x̄)⁴ in
//     float64. A batch is summarised in one pass as power sums of d = x − K with K the running
//     mean (a neuron's first activation for its first batch), converted to central sums
//     (a = S1/m: M2 = S2 − a S1, M3 = S3 − 3a S2 + 2a² S1, M4 = S4 − 4a S3 + 6a² S2 − 3a³ S1),
//     and merged into the running state with Chan/Pébay's parallel formulas (Moments.Merge).
//     Reported: variance = M2/n (population), skewness = √n M3 / M2^{3/2}, kurtosis = n M4/M2² − 3
//     (excess, Fisher; scipy's defaults); 0 when the variance is 0. They equal a two-pass exact
//     computation to ~1e-12 relative (tests use 1e-9).
//   - frac_positive = #(x > 0)/n, frac_nonzero = #(x ≠ 0)/n, max, min (exact).
//   - histogram: HistBins bins of width w = 2^e anchored at 0 ([(off+i)w, (off+i+1)w)); the
//     first width comes from the first context's range; a value outside the window doubles w
//     (pairs of bins merge exactly) and/or slides the window. Counts are exact for the final grid
//     whatever the data order; empty end bins are trimmed in the report.
//
// # Cost
//
// Observe splits a hook point's neurons into chunks of 64, handled by GOMAXPROCS goroutines.
// For each context of the batch, a chunk's [pos, chunk] block of activations is transposed
// (8×8 tiles) into a neuron-major tile, so that each neuron's positions are contiguous: one
// call-free loop (rowAcc.scan) then keeps the power sums, sign counts, maximum and minimum in
// registers and counts the histogram with a precomputed power-of-two reciprocal of the bin
// width (⌊x/w⌋ = ⌊x·(1/w)⌋ exactly; the floor is a truncation and a branch-free step for
// negative values). A value outside the histogram's window leaves the loop, rearranges the
// grid and re-enters. The example lists are touched once per (context, neuron): a list is
// only searched when the context's score reaches its entry threshold (the root of a full
// heap, kept per neuron in one array), the position of the maximum is looked up only for a
// context that is stored, and windows are contiguous copies out of the tile. The batch's
// power sums become central moments and are merged (Chan et al.) once per batch.
//
// BenchmarkProfileOverhead (GPT-2 small shape, random weights, 8 × 64-token batches, every
// hook_post neuron) runs each batch plain and profiled on the same model and tokens and
// reports the ratio. Running the statistics concurrently with the next layers of the forward
// (a copy of each hook_post tensor handed to a background goroutine) was measured on 2 cores
// and was slower (47.0 s against 44.2 s for 25,600 tokens): the forward already keeps every
// core busy (row-split GEMM), so the two only compete.
//
// # Examples
//
// An example is one context, scored by its maximum activation for the neuron (its minimum for
// the top-min list, as OpenAI and Transluce score excerpts). It is stored as a window of
// Before tokens before the max token and After after it (inside the context), with the
// neuron's activation on every window token, the index of the max token in the window, the
// document ordinal, the document position of the max token and the context ordinal.
//
//   - top-k max / top-k min: bounded heaps of K entries with the worst at the root; a context
//     enters only if it beats the root (a cheap check done first). Order: larger score first,
//     ties to the earlier context. The lists equal a brute-force sort of all contexts.
//   - quantile samples: the per-context maxima of the first CalibContext contexts (the
//     calibration prefix) fix each neuron's Q−1 boundaries (boundary i is the sorted maximum of
//     rank ⌊i·m/Q⌋ of the m calibration contexts) at the end of the batch that completes them;
//     every context of a later batch goes to its bin, and each bin keeps the PerBin contexts of
//     smallest priority key (bottom-k sampling: a uniform sample without replacement of the
//     bin's contexts), the key a hash of (seed, layer, neuron, bin, context index). Calibration
//     contexts still count for everything else. bin_contains is the number of contexts that fell
//     in the bin.
//   - random sample: a reservoir of RandomSample contexts over the whole run (Algorithm R whose
//     i-th draw, for the context of index i, is a hash of (seed, layer, neuron, i)).
//
// The draws depend only on the seed and on context indices, not on how the run was split up,
// resumed or sharded. (Until checkpoint format v4 the bins used Algorithm R over the bin's own
// count, which no shard can know: the bin samples of earlier versions differ, every other field
// is unchanged.)
//
// # Memory
//
// Per hook point with N neurons the state is O(N × (2K + Q·PerBin + RandomSample) × window)
// for the examples plus O(N × (HistBins + Q)) for the statistics, and O(N × CalibContext)
// float32 until calibration; none of it grows with the dataset. For GPT-2 small (12 × 3072
// neurons) with the defaults (K 20, 5×5, 20 random, 20-token windows, 32 bins) that is about
// 36864 × 85 × 20 × 8 B ≈ 500 MB of example windows plus ~40 MB of statistics. SaveAsync (the
// CLI's periodic checkpoints) keeps one more copy of all of it as its encoding buffer.
//
// # Checkpoints and resume
//
// Save writes the whole state (a gob header, then every array as raw little-endian bytes:
// exact float bits, written at disk speed) through a temp file, fsync and rename, with a
// fingerprint of the run's settings (model config hash, data sha256, options, hooks).
// SaveAsync encodes the same bytes into a reused in-memory buffer and writes them in the
// background while profiling goes on. The CLI saves every --checkpoint-every batches
// (asynchronously; it waits for the write before the next save and before exiting) and on
// Ctrl-C/SIGTERM (after finishing the current batch); after a kill the last complete periodic
// checkpoint is used. --resume loads it (the
// fingerprint must match), skips the contexts already seen and continues; since contexts,
// batches and the reservoirs' random draws are deterministic, the outputs are byte-identical
// to an uninterrupted run's.
//
// # Shards and merging
//
// A run can be split over processes or machines (package beamprofile runs it as an Apache Beam
// pipeline) and the partial states merged (Profiler.Merge) into what one process observing
// every context in index order gives. The deterministic rule that makes the shards agree:
//
//  1. Contexts are numbered as one process numbers them (corpus.Contexts over the documents
//     in order) and batched on the same grid of Batch contexts.
//  2. The calibration shard observes the calibration prefix, contexts [0, P) with
//     P = ⌈CalibContext/Batch⌉·Batch (Options.CalibrationPrefix): exactly what a single process
//     does before it calibrates. Its Calibration(P) — every neuron's quantile boundaries and its
//     histogram width after the prefix — seeds every other shard (NewShard).
//  3. Every other shard observes any set of batches of contexts ≥ P, in any order.
//  4. The states merge in any order (Merge); Finish calibrates a run shorter than P.
//
// The merge of each statistic (Merge's doc lists them): counts, extremes, histograms (both
// grids are power-of-two multiples of the calibration shard's width, anchored at 0: the finer
// is coarsened, the counts added, the width doubled while the occupied bins span more than
// HistBins — the single pass's final grid, since a single pass doubles only when its data so
// far do not fit), the top-k max and min lists (k best of the union, ties to the earlier
// context), the bin samples (k smallest keys of the union) and the random sample (per slot, the
// later context) are exact; the moments merge by Chan/Pébay and equal the single pass's to
// floating-point reassociation (TestMergeEqualsSinglePass: 1e-12 relative). The exports of a
// merged run are therefore byte-identical to the single process's except for the last digits
// of mean, variance, skewness and kurtosis. MarshalBinary/Unmarshal move states between
// workers (the checkpoint encoding, every array length checked on decoding).
//
// Merging keeps one state per hook point and reads the other: memory
// O(N × ((2K + Q·PerBin + RandomSample) × window + HistBins + Q)), independent of the data.
//
// # Scaling (a distributed run on paper)
//
// Measured on this machine (BenchmarkShardState in probes/distributed, OpenBLAS build, 2 cores
// shared with other jobs — rates are noisy, sizes exact; every mlp.hook_post neuron, default
// options, 8 × 64-token batches, random weights):
//
//	shape (hook_post neurons)        forward   profiled   shard state          encode  decode  merge
//	GPT-2 small (12 × 3072 = 36,864)  145.8     119.1 tok/s  634.8 MB           1.5 s   1.4 s   0.8 s
//	Llama 1B shape (16 × 8192 = 131,072) 14.6    13.1 tok/s  2,257 MB           9.3 s   2.8 s   1.2 s
//
// A shard's state is 17,220 B per neuron with the defaults (K 20, 5×5 quantiles, 20 random,
// 15+1+4-token windows, 32 histogram bins), whatever the data: the example windows (85 slots ×
// 20 tokens × (id + activation) = 13,600 B), their metadata (2,380 B), the heaps (640 B), the
// histogram (256 B), the bin keys (200 B) and the moments, counts and extremes. Profiling costs
// 42 ns (GPT-2 small) to 57 ns (1B) per neuron and token on top of the forward here.
//
// A 100M-token profile of a 7B model (Llama-2-7B: 32 × 11,008 = 352,256 hook_post neurons,
// ~6.5B non-embedding parameters) on N workers, one shard per worker:
//
//   - State: 352,256 × 17,220 B = 6.07 GB per shard (190 MB per hook point); a merge holds two
//     states of one hook point (≈ 0.4 GB) and the final step all of them (6.07 GB), as a single
//     process does.
//   - Shuffle (through the staging filesystem): N × 6.07 GB written by the shards, and per hook
//     point a merge tree of N−1 merges that each read two states and write one:
//     3(N−1) × 6.07 GB in all, spread over the 32 hook points' merges in parallel (N = 64:
//     0.39 TB written by the shards, 1.15 TB of merge traffic, ~18 GB per worker).
//   - Compute: scaling the 1B shape's rate by parameters, a 2-core worker like this one
//     forwards ~2.2 tok/s on a 7B model, and profiling 352,256 neurons adds ~18 ms per token
//     (+4%): ~2.1 tok/s, i.e. 4.8·10⁷ worker-seconds for 100M tokens. Wall time ≈
//     T_calib + 10⁸/(N·r) + T_merge + T_write with r the per-worker rate: the calibration shard
//     (256 contexts × 64 tokens = 16,384 tokens on one worker while the others wait: 2.2 h at
//     2.1 tok/s; less with a smaller --calib), the merges (a few seconds per hook point and
//     level, log₂N levels) and the final write (one worker; GPT-2 small's exports take ~20 s
//     here, so ~3–4 min). With N = 64 such 2-core workers: ~8.6 days; workers with 16× this
//     machine's GEMM rate (32 cores) bring it to ~13 h.
//
// # Exports
//
// profile.json is the Report (schema_version "neuronscope.profile/v3", provenance, settings,
// tokens, contexts, bos_positions_excluded, per-hook-point neuron reports; v2 files read with
// include_bos set). neuron_records/HOOK.jsonl holds one OpenAI neuron-explainer
// NeuronRecord per line (neuron_id{layer_index, neuron_index}, most_positive_activation_records
// = top-k max, random_sample, random_sample_by_quantile, quantile_boundaries = the Q−1 inner
// boundaries, mean, variance, skewness, kurtosis, with dataclass_name tags as their JSON
// encoder writes). neuronpedia/batch-I.json is an array of Neuronpedia features (modelId,
// layer, index, maxActApprox, frac_nonzero, pos_str/pos_values/neg_str/neg_values from the DLA
// tokens, or the LM-head tokens when there are no DLA tokens, freq_hist_data_bar_heights/values,
// activations[{tokens, values, maxValue, maxValueTokenIndex, binMin, binMax, binContains}]).
//
// # Vocabulary projections of a neuron's write direction
//
// A hook_post neuron i of layer l writes a·w into the residual stream, w its write direction
// (column i of down_proj / W_out, row i of GPT-2's Conv1D c_proj; model.MLP(l).WriteDirection)
// and a its activation (a·(1 + γ_post) ⊙ w / s_post behind Gemma 2/3's post-feed-forward
// norm, whose divisor s_post depends on the position). The report can carry two projections of w onto the vocabulary, each as
// the K tokens with the largest score (largest first) and the K with the smallest (smallest
// first), both computed by attribute.DecodeNeurons:
//
//   - lm_head, the LM-head decoding of the write direction ("logit lens on weights", Geva et
//     al. 2022; Davies 2025): score_t = W_U[t]·w, the raw vector through the unembedding W_U
//     and nothing else (DecodeOptions.NormWeight false).
//   - dla, direct logit attribution per unit activation, through the final norm:
//     score_t = W_U[t]·(g ⊙ P w), g the final norm weight γ (Gemma: 1 + γ) and P the centering
//     w ↦ w − mean(w) for LayerNorm models (identity for RMSNorm) (NormWeight true). This is
//     attribute.DirectLogit's per-neuron formula (see attribute.DLAResult) without the
//     activation and the position's scale s = ln_final.hook_scale: at a position where the
//     neuron has activation a, its direct effect on logit t is a·score_t/s. Where the MLP output
//     passes through a post-feed-forward norm before it joins the residual stream (Gemma 2/3),
//     w is first multiplied by that norm's weight 1 + γ_post, score_t = W_U[t]·(g ⊙ (1 + γ_post)
//     ⊙ w), and the direct effect is a·score_t/(s·s_post), s_post that norm's divisor at the
//     position. Since s, s_post > 0, the ranking is the same at every position. Scores are
//     logits before any final soft-cap (Gemma 2). Without a post-norm it is also what
//     SAEDashboard shows as a feature's logits on a TransformerLens model with the final norm
//     folded into W_U, which is why the Neuronpedia export takes pos_/neg_ from it.
//
// The two rank tokens identically, with scores differing by a constant factor, exactly when
// g ⊙ P w (g ⊙ (1 + γ_post) ⊙ w behind a post-norm) is a positive multiple of w: for RMSNorm
// models whose final norm weight (and post-norm weight) is constant
// (g = c·1, c > 0; e.g. a freshly initialised Llama/Qwen2, γ = 1, or Gemma with γ = 0), and for
// LayerNorm models only if additionally w has zero mean. No supported architecture guarantees
// it for trained weights. Schema v1 had only lm_head, computed as v2's dla (through the norm
// weight); v2 made lm_head the raw decoding and added dla, so the two are never confused.
package profile
