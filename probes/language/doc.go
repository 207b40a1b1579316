// Package language finds language neurons from per-language activation probabilities, with the
// two published selection procedures reproduced exactly: LAPE (Tang et al., ACL 2024,
// RUCAIBox/Language-Specific-Neurons) and the alignment paper's λ-weighted entropy score with
// its automatic λ search (Zhang et al., AAAI 2026, NJUNLP/Language-Neurons-Alignment).
// "Exactly" means: from the same float32 probabilities, the same neurons as the papers' code.
//
// # Use
//
//	p, err := language.ReadProbabilities("probs.safetensors")   // or Counts → Probabilities
//	sel, err := language.LAPE(p, language.LAPEOptions{})          // 0.01, 0.95, 0.95
//	sw, err := language.SweepLambda(p, language.AlignmentOptions{}, language.SweepOptions{})
//	sel = sw.Selection                                            // at the published λ*
//	rep := language.NewReport(p, sel, sw)                         // the method's report
//	set, err := sel.NeuronSet(rep, "probs.safetensors")           // neuronscope.neurons/v1
//
// `neuronscope find language --probs FILE --method lape|alignment --out neurons.json` does
// exactly this (--report also writes rep with every group's neurons), and `neuronscope verify
// --neurons neurons.json --text FILE` verifies the set (below).
//
// # Activation probabilities
//
// p[g, l, i] is the fraction of group g's tokens on which neuron i of layer l is > 0, with
// layout [groups, layers, width] (Probabilities). Both papers count SiLU(gate(x)) > 0, which
// is gate(x) > 0, i.e. neuronscope's mlp.hook_pre for gated MLPs (not gate·up); for
// GPT-2/NeoX/BLOOM the activation output > 0 [code].
//
// Counts accumulates a counting pass: AddLayer adds, per neuron, the number of rows of an
// [n, width] activation block that are > 0 (NaN is not, +Inf is), AddTokens the token count;
// batches or workers combine with Merge. Two conversions follow the published code [code]:
//
//	LAPE:      p = Positive / Tokens
//	alignment: p = max(Positive_full − Positive_prefix, 0) / (Tokens_full − Tokens_prefix)
//
// (response tokens only: full = instruction + answer, prefix = instruction), both computed as
// torch does it: the integer counts are converted to float32 first (so counts above 2^24 are
// rounded) and divided in float32. The published alignment code divides by
// max(Tokens_full − Tokens_prefix, 1); here a group without response tokens is an error.
// Its token totals come from tokenizer.encode while the counts come from the model's forward,
// so response-only values can exceed 1: 12 of the 4,587,520 shipped Mistral-7B values do, up
// to 1.00103. Such files carry counting=response and are accepted; otherwise a value > 1 is
// an error.
//
// # Counting pass
//
// Counter.Run is the one streaming pass that fills Counts from a model: the items (Data:
// GroupFile per group, or one JSONL with a group field; Resolve gives the groups in tensor
// order) are tokenized and cut into contexts of at most Ctx tokens (corpus.Contexts),
// streamed through the model Batch at a time (corpus.Run), and every layer's tap is observed
// without copying (hooks.Observe): per row, the real positions [0, len) are added to their
// group with AddLayer (padding is never counted) and the row's length with AddTokens. Memory
// is the counts ([groups, layers, width] int64) plus one batch; Save/LoadCounter checkpoint
// them (gob through a temp file and a rename, with the caller's fingerprint of the settings)
// and a resumed pass skips the contexts already counted; AfterBatch drives a progress bar.
// Scan checks every input and counts the tokens per group before any forward (an empty group
// is an EmptyGroupError).
//
// Response-only counting (NewCounter with response) keeps a second Counts, Prefix, for the
// prompt tokens, so that Probabilities is ResponseProbabilities(Full, Prefix), the published
// full − prefix. Each document must be one context and carry its prompt (Item.Prefix, a
// prefix of its text): when the prompt's encoding is a prefix of the document's encoding, the
// prompt's counts are those of the document's first positions (the model is causal: the same
// activations); otherwise the prompt is run as a row of its own, as the published code runs
// every prompt. Pool receives each document's mean-pooled response at the tap ([layers,
// width], the mean over all of its positions) for the relation finder.
//
// DefaultTap picks the published statistic's tap: mlp.hook_pre for gated MLPs,
// mlp.hook_post otherwise. BenchmarkCountOverhead (GPT-2 small shape, 8 × 64-token batches,
// every hook_post neuron) compares the counting pass with the plain forward over the same
// batches.
//
// # File format
//
// A safetensors file with exactly one F32 tensor "activation_probability" [groups, layers,
// width] and __metadata__ "languages" (comma-separated group names, tensor order), "tap" (the
// tap point), optionally "counting" ("all" or "response") and "tokens" (comma-separated
// per-group token counts). WriteFile is atomic. ReadProbabilities rejects, naming the file: a
// different tensor set, dtype or rank; a missing languages key; a name count different from
// the first dimension; empty, duplicate or padded names; fewer than 2 groups; NaN, ±Inf,
// negative values, and values > 1 unless counting=response. testdata/convert_published.py
// converts the papers' torch files (LAPE's activation.*.train.* and the alignment repo's
// activations/mgsm/{,prefix.}activation.*.pt) into this format.
//
// # Percentiles
//
// Both methods threshold with τ(rate) = the k-th smallest of all N = groups·layers·width
// probabilities, k = round(rate·N) with Python's round (float64 product, half to even), as
// torch.kthvalue(k) (1-indexed) [code]. Assignment is strict: p > τ [code]. A rate with k < 1
// is an error.
//
// # LAPE
//
// Per neuron, in float64 from the float32 probabilities (the published code uses float32;
// float64 is the more accurate of the two and, on the shipped 7B statistics, selects the same
// neurons although LAPE's cut-off margin there is only 8 float32 ulp of the entropy):
//
//	p̂_g = p_g / Σ_g p_g        (Σ = 0 gives NaN, which the code sets to 0 [code])
//	H    = −Σ_{g: p̂_g>0} p̂_g ln p̂_g
//	H    = +Inf if no g has p_g > τ(FilterRate)
//
// An all-zero neuron thus has H = 0 before the filter and +Inf after it [code]. The K =
// round(TopRate·layers·width) lowest H over all layers at once are selected (not per layer)
// [code], and each selected neuron is assigned to every group with p_g > τ(BarRatio) [code]
// (several groups are allowed). Defaults: TopRate 0.01, FilterRate 0.95, BarRatio 0.95 [code;
// the shipped files' names encode them]. When fewer than K neurons pass the filter, +Inf
// neurons fill the selection (chosen by torch.topk's tie rule, below); since they have no
// group above τ(FilterRate) they get no group when BarRatio = FilterRate.
//
// The published file is a list (per language) of lists (per layer) of index tensors, built
// from torch.bincount of the assignments: trailing languages without neurons are missing from
// it (why the shipped Mistral-7B file has 6 of 7 languages), middle ones are kept empty [code].
// Selection.PublishedLAPEGroups says how many lists that file would have.
//
// # Alignment score
//
// Per neuron, in float64 from the float32 probabilities [code: analysis.py Neuron_Prob,
// identify.py]:
//
//	p̂_g = p_g / Σ_g p_g, or 1/K for every g when Σ_g p_g ≤ 0 (all-zero neuron)
//	q_g  = max(p̂_g, 1e-12) / Σ_g max(p̂_g, 1e-12)
//	s    = −Σ_g q_g ln(q_g + 1e-30) / ln K  −  λ · max_g p_g / NormMax(K)
//	NormMax(K) = (1/K) Σ_{k=1..K} 1/k      (0.2928968253968254 for K = 10)
//
// The published code computes the entropy in float32 per neuron, the rest in Python float64
// (NormMax is a Python float, not float32), and stores s in a float32 tensor before ranking;
// s is therefore rounded to float32 here too, so that neurons tied in the published ranking tie
// here [code]. The K lowest s over all layers are selected; there is no filter, so selected
// neurons with no group above τ(BarRatio) are dropped (Multiplicity[0]). Defaults: TopRate
// 0.01 (the paper and the shipped mask; the script's CLI default is 0.10 [code]), BarRatio
// 0.95.
//
// # λ search
//
// SweepLambda is autosweep.py [code]: evaluate λ = lo (0) and hi (0.2), then bisect while
// hi − lo > eps (1e-3, at most 64 steps): a midpoint passes when no selected neuron is assigned
// to all K groups (Multiplicity[K] = 0), and then becomes both lo and the answer. Quirks kept:
// every passing midpoint overwrites the answer, even when hi itself passed (so the answer is
// 0.2·255/256, not 0.2, when every λ passes); λ lands on the grid 0.2·j/256; the published
// logs print λ with %.6f (0.1109375 prints as 0.110937). The published success test reads
// appear[10] (correct only for K = 10; with fewer groups nothing passes): the general test is
// the default, the literal one is SweepOptions.PublishedAppear10.
//
// # Ranking and ties
//
// Both methods take the K lowest scores with torch.topk(largest=False) on the flattened
// [layers, width] scores (flat index layer·width + index). Its CPU kernel breaks ties through
// libstdc++'s std::partial_sort (a heap of the first K; when K·64 ≤ N) or std::nth_element
// (introselect; otherwise), so which of several equal scores survives the cut-off is neither
// "lowest index" nor "first K"; torchSmallest replays those algorithms step by step, and
// TestTopKMatchesTorch checks it against torch on 288 inputs full of ties [code; checked
// against torch 1.13].
//
// # Output
//
// Selection holds the K selected neurons (Neuron: layer, index, score; sorted by layer then
// index), per group its assigned neurons (same order) and per-layer counts, and the
// multiplicity histogram: Multiplicity[c] is the number of selected neurons assigned to
// exactly c groups, so c = 1 is language-specific, 2..K−1 language-related, K language-agnostic
// (for the alignment method, 0 at the swept λ by construction), and c = 0 unassigned (the
// published appear list has 0 there, since it only counts masked neurons).
//
// # Neuron set and verification
//
// Selection.NeuronSet is the finder's output in the format every experiment reads
// (hooks.NeuronSet, neuronscope.neurons/v1): one group per language, in the probabilities'
// order, holding the language's assigned neurons (ByGroup) as entries of the counting tap
// (Selection.Tap: mlp.hook_pre for gated MLPs, the gate's output; mlp.hook_post for
// GPT-2/NeoX/BLOOM, the activation's output), ranked by ascending score (the most
// language-specific first; ties by layer and index), the score the method's (entropy, or the
// alignment score); a language without neurons is an empty group. A neuron assigned to several
// languages is in each of their groups. The settings (SetSettings) are the Report without the
// neuron lists (settings with K, the percentiles and thresholds, λ and its sweep, per-group and
// per-layer counts, the multiplicity histogram, the specific / related / agnostic / unassigned
// split), where the probabilities came from, and what an entry is and what zeroing it does
// (NeuronMeaning, Deactivation): at mlp.hook_pre, zeroing the gate's output makes silu(0) = 0
// and so the hidden unit silu(gate)·up = 0 at every position, LAPE's deactivation (ppl.py zeroes
// silu(gate) at the selected indices); at mlp.hook_post it zeroes act(h), BLOOM's. A LAPE entropy
// of +Inf (a filtered neuron assigned when the bar is below the filter) is written as MaxScore.
//
// LAPE's validation is the perplexity-change matrix: deactivate language i's neurons, measure
// the perplexity (exp of the mean token NLL) of every language j's text. `neuronscope verify
// --model DIR --neurons neurons.json --text texts.jsonl` (texts labelled "language", or --text
// GROUP=FILE per language) runs it through package ablate, with random sets of the same
// per-layer counts, the selectivity of each row (own language minus the mean of the others),
// p-values and verdicts.
//
// # Acceptance on published statistics
//
// On the alignment repository's shipped Mistral-7B tallies (10 languages, 32 × 14336,
// response-only) SweepLambda evaluates the same ten λ with the same multiplicities as
// autosweep.py, returns λ* = 0.109375, and the selection at λ* equals the shipped mask
// activation_masks/mgsm/0.01-0.109375 for every language and layer (3,219 unique neurons,
// multiplicity 1866, 617, 310, 153, 127, 59, 40, 27, 20, 0). LAPE on the same probabilities
// equals identify.py's procedure run in torch. (testdata/convert_published.py and
// compare_published.py; the fetched files are not part of the repository or the tests.)
package language
