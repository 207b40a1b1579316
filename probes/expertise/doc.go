// Package expertise scores neurons by how well their responses separate one group of examples
// from the others: each neuron's average precision (AP) exactly as sklearn's
// average_precision_score computes it, streamed over a [examples, neurons] response matrix in
// neuron chunks, then ranked. It is the selection step of relation-specific neurons (Liu et
// al., EMNLP 2025) and of Kojima et al.'s language neurons, both built on apple/ml-selfcond's
// expertise.py; the model-side steps (correctly answered detection prompts, mean-pooled
// responses) belong to the caller.
//
// # Use
//
//	det, eval, err := expertise.SplitBySubject(subjects, 50, seed)      // per relation
//	neg, err := expertise.Negatives(otherRelations, len(pos), 4, seed)  // 4 × |P_det|
//	aps := make([]float64, neurons)
//	err = expertise.AveragePrecisions(aps, responses, rows, positive, expertise.Options{})
//	top, err := expertise.Rank(aps, 3000, expertise.RankOptions{})      // or BothEnds
//	unit := layout.Unit(top[0].Neuron)                                  // tap, layer, index
//
// # Average precision
//
// For one neuron with responses x_r on examples r and labels y_r (positive or not), sklearn
// (metrics/_ranking.py, 1.2) sorts the responses in decreasing order and makes every distinct
// value a threshold t_j (tied responses form ONE threshold: they enter the curve together).
// With tp_j and fp_j the positives and negatives responding ≥ t_j, P = tp_last:
//
//	precision_j = tp_j / (tp_j + fp_j),  recall_j = tp_j / P
//	AP = Σ_j (recall_j − recall_{j−1}) · precision_j      (recall_{−1} = 0: step interpolation)
//
// Scorer evaluates it in sklearn's own order — the reversed curve closed with (recall 0,
// precision 1), the terms (R[i+1] − R[i])·P[i], and numpy's pairwise summation 0 +
// pairwise(terms) (8 accumulators for blocks up to 128, halving above), negated — so the result
// is the same float64, bit for bit; TestAveragePrecisionMatchesSklearn checks 52 random cases
// (up to 2,500 examples, heavy ties, single positives) for equality. Responses are float32 and
// compared as float32 (as sklearn compares the float32 array it is given); −0 and +0 are one
// threshold. A NaN or ±Inf response is an error (sklearn raises ValueError), and so is a
// labelling without positives (sklearn warns and returns 0); with no negatives AP is 1.
//
// Cost: the responses become 33-bit keys (order-preserving float bits, label in bit 0), sorted
// with a three-pass 11-bit LSD radix sort; one pass then accumulates the thresholds. On 1,500
// examples that is 25–45 µs per neuron on a shared (noisy) 2-core AMD EPYC, against 370–500 µs
// for sklearn's call on the same matrix measured side by side (BenchmarkAveragePrecisionsLlama7B,
// BenchmarkScorer; testdata/bench_sklearn_ap.py): every neuron of a Llama-2-7B-sized problem
// (835,584 × 1,500) in 24 s on one core with 24 MB peak RSS, where sklearn extrapolates to
// 310–420 s.
//
// # Streaming
//
// Responses is any [examples, neurons] matrix readable in column blocks: Columns copies the
// chosen examples' responses to neurons [lo, hi) neuron-major into the caller's buffer. Dense
// is the in-memory one; a file- or model-backed source only has to implement Columns.
// AveragePrecisions reads Options.Chunk neurons (default 512) at a time per worker
// (Options.Workers, default GOMAXPROCS), so memory is Workers·Chunk·examples float32 beyond the
// result: about 6 MB for 1,500 examples and 2 workers, never a copy of the matrix, nor a copy
// per neuron. Its results equal per-neuron AveragePrecision calls exactly, for any chunking.
//
// # Ranking
//
// Rank keeps the k highest APs (the relation paper: top 3,000 of the FFN units), or with
// BothEnds the ⌊k/2⌋ highest and ⌊k/2⌋ lowest (Kojima et al.'s make_limited_expert.py:
// head(int(k/2)) of both sorts; an odd k keeps k−1). Ties go to the lower column index. The
// published scripts store AP as float32 in expertise.csv and sort that column with pandas'
// default (unstable) quicksort: RankOptions.Float32 reproduces the float32 rounding, but their
// order among equal values is an accident of the sort and is not reproduced. k above the
// number of neurons is an error.
//
// Layout names the columns: consecutive blocks (tap point, layers, width), each ordered by
// layer then index. Llama-2-7B's FFN units — mlp.hook_pre (gate_proj output) and
// mlp.hook_pre_linear (up_proj output), 32 × 11,008 each, and hook_mlp_out (down_proj output),
// 32 × 4,096 — are 835,584 columns, the paper's count.
//
// # Data splits
//
// Negatives draws ratio × |positives| examples from the other groups' pool (the paper's 4×),
// without replacement; SplitBySubject holds out n items of one relation (the paper's 50 per
// relation) with no subject in both the held-out and the detection items, drawing whole
// subjects in a seeded order. Sample is the underlying seeded draw. The random sequence is
// fixed by this package (math/rand/v2's PCG for the bits, Lemire's bounded integers written
// out), so a seed means the same split in every Go release. The papers' own seeds and
// samplers are not published; these are not bit-compatible with them.
package expertise
