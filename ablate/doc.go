// Package ablate is neuronscope's verification toolbox: a finder claims "these neurons are
// about relation r (language ℓ, concept c)", an experiment intervenes on them and measures
// what changes, random neuron sets of the same shape say what chance would do, and a verdict
// with an empirical p-value, an effect size and a bootstrap interval comes out, written as a
// label (package probes/labels). The entry point is Verify (the library side of `neuronscope
// verify`); Matrix, Sweep, Calibrate, PatchExperiment and Selectivity are its experiments,
// Eval its runner, and the Intervention implementations its edits.
//
// # Neurons and taps
//
// A neuron is a hooks.Neuron: a per-layer hook point and an index into its activation, from a
// neuron-set file (hooks.ReadNeuronSet, the neuronscope.neurons/v1 format every finder writes)
// checked with hooks.NeuronSet.Check. Any per-layer tap works: mlp.hook_post (DefaultSite, the
// input of the MLP output projection: act(W_in x) for GPT-2/NeoX, act(gate(x))·up(x) for gated
// MLPs), mlp.hook_pre (the gate's or W_in's output, before the activation), mlp.hook_pre_linear
// (the up projection), hook_mlp_out (down_proj output dimensions), hook_resid_*, attn.hook_z
// (heads flattened), and the attention q/k/v points once the model offers them. An
// experiment on mlp.hook_pre of a gated MLP is not the experiment on mlp.hook_post: the edit
// acts before the nonlinearity and is then multiplied by the up projection, so scaling,
// clamping, mean, force, patching and steering there change the neuron's output nonlinearly
// and by an input-dependent factor, and a mean or statistic taken at hook_pre is not the one
// at hook_post. Only zeroing coincides in the forward pass, because act(0) = 0 for silu,
// gelu and relu: silu(0)·up = 0 is what zeroing hook_post writes (TestGatePreAndPostTaps
// checks both facts); attribution scores at the two taps still differ. An edit of
// hook_pre_linear (the up projection) changes the neuron's output linearly, by the gate's
// activation. Reports name the tap of every edited point.
//
// # Interventions
//
// An Intervention turns into the hook edits of one forward pass (Hooks), given the pass's
// Batch: its rows' items, lengths and prompt lengths (rows are left-padded, so row r's real
// tokens are positions Len−Lens[r]..Len−1; position ids follow the mask, so padding changes
// nothing). Edits act at Positions: every real position (AllPositions, the default), the last
// prompt position (LastPosition, where the answer is read), or listed prompt positions (0 is
// the first token, the BOS when there is one; −1 the last). In passes that generate after the
// prompt, only "all" acts on the new tokens. The implementations:
//
//	Overwrite  each neuron set to a value: ZeroAt (0), MeanAt (its mean over every real
//	           position of the evaluated items, unedited model: ComputeMeans), ClampAt (a
//	           constant), ForceAt (given values, e.g. GroupStatistic: the median over a
//	           group's items of each item's mean activation, Kojima et al.'s on_p50)
//	Scale      each neuron multiplied by a factor (×2 enhances, ×0 zero-ablates)
//	Patch      each neuron takes its value in another run (Activations captured unedited):
//	           activation patching of clean values into corrupted runs or back, and resample
//	           ablation (NewResample: from a random item of another group)
//	Add        α times a Direction added to the activation: steering along a neuron set
//	           (NeuronDirection: 1/√k on each of its k neurons), a probe or a saved vector
//	           (ReadDirection), or a difference in means (DiffInMeans)
//	Combined   several interventions in one pass
//	Subspace   the component of an activation in a span scaled (×0: projected out): SNMF
//	           features zeroed or scaled at mlp.hook_post (Decompositions)
//	LatentEdit an SAE spliced in with its error term and latents zeroed, clamped or scaled
//	           (Decompositions); only the edit reaches the model
//	PerItem    each item with its own neuron list, set to 0 or scaled (a prompt's path at its
//	           attributed position, a fact's knowledge neurons on its prompts)
//
// "The same position" of a patch or resample counts from the end of the prompt: the last
// position takes the source's last position, the one before it the source's one before, and
// positions before the start of a shorter source take its first position. Positions after
// the prompt (answer or generated tokens) are not patched.
//
// Features and latents are units (hooks.MLPPostSNMF, hooks.MLPPostSAE): a neuron set at those
// taps is verified like any other once VerifyOptions.Units (a Decompositions holding the F or
// the SAE per units point) resolves them. Zero projects a feature list's span out of
// mlp.hook_post (orthonormal basis by Gram–Schmidt in list order; features need not be
// orthogonal, so a "clamp" has no unique meaning and is refused); latents are edited through
// the splice at every position. Random controls draw random units of the same decomposition.
// Steering along one feature or latent is Calibrate with its Direction (F_j, or W_dec[j]).
//
// # Measures
//
// An Eval runs the unedited model once over its items (fact questions, a corpus.PromptSet;
// labelled texts, a TextSet) and then each intervention in exactly the same batches
// (corpus.PromptBatches: items ordered by length, 64 per pass), so results compare item by
// item. The baseline keeps each batch's hook_resid_pre at the lowest layer of the
// interventions it is told about (Reuse), within CacheBytes: an intervention whose lowest
// layer is l then reruns only layers ≥ l (model.ForwardFrom; the logits are identical to a
// full pass). Per item it measures (Scores):
//
//	correct   the first AnswerTokens greedy tokens (default 1) are a prefix of the answer
//	log-prob  log P(answer | prompt), teacher-forced over every answer token
//	KL        KL(P_base ‖ P_edited) of the next-token distribution at the last prompt position
//	NLL       per text, the summed −log p of every token after the first
//
// and per group (Measure): accuracy, with the effect the relative drop (acc_before −
// acc_after)/acc_before (the relation-neuron paper's acc_drop; 0 when acc_before is 0);
// the answer probability, with the effect the ratio of means mean(P_after − P_before) /
// mean(P_before) (Dai et al.'s ave_delta_ratio, not a mean of ratios); the mean answer
// log-probability change; and perplexity exp(Σ NLL / Σ tokens) over the group's texts, with
// the effect the ratio after/before. Sample generates seeded continuations (greedy, or
// temperature, top-k then top-p sampling, HF's order) with an intervention at every step.
//
// # Experiments
//
//   - Matrix: intervene on each set (row) and measure every group (column); a cell is the
//     effect on that group, next to the same effect for each random set. A set improving
//     another group (accuracy up, perplexity down) is listed as interference, never hidden.
//   - Sweep (cumulativity): the top k of a ranked set for k over a grid (DefaultKs, the
//     relation paper's 10, 50, 200, 500, ..., cut at the set's size, which is always last),
//     the effect on the claimed group and the mean on the others, with the random sets'
//     band at each k.
//   - Enhance (Verify's ExpEnhance): the matrix of Scale ×2 on the answer probability, the
//     claim being that the group's probability rises.
//   - Steering (ExpSteer, Calibrate): α found by bisection in [1, 2000] (20 steps, |KL −
//     target| ≤ 0.01: the SNMF paper's procedure) so that KL(base ‖ steered) at a base prompt
//     reaches each target in 0.025, 0.05, 0.1, 0.25, 0.5, for both signs. Unlike the paper,
//     which drops a target it cannot reach silently, every target is kept, and an unreached
//     one says why (Reached false, Why, the closest α); bounds that reach no target are an
//     *UnreachableError. The claim tested is that steering along the set raises its group's
//     answer probability more than the others', at the largest target reached with α > 0,
//     against random directions calibrated to the same KL.
//   - PatchExperiment: clean and corrupted prompts (ReadPairs); the corrupted runs with one
//     site's units patched from the clean runs; recovered = (mean M_patched − mean
//     M_corrupt) / (mean M_clean − mean M_corrupt), M being logit(answer) − logit(foil) or
//     log P(answer) at the last position (with Back: the clean runs patched with corrupted
//     values, and the fraction destroyed).
//   - General sets (MatrixOptions.General, VerifyOptions.General): a set claimed for every
//     group (CULNIG's culture-general neurons) is verified on all items pooled: T and S are
//     its oriented effect on them, the bootstrap resamples within each group.
//   - VerifyPaths (NeuronPath's evaluation): each prompt's path, and its activation-argmax and
//     top-K baselines, removed (set to 0) and enhanced (×2) at the prompt's attributed
//     position (PerItem; PathItems rebuilds the prompts from a `find path` set). T is the
//     oriented probability deviation mean_i P_after,i/P_before,i − 1 (a mean of per-item
//     ratios, as the published analysis computes it), S = T, against random paths drawn per
//     item; the top-1 change with its own p; the path against each baseline item by item (mean
//     difference of the oriented per-item deviations, bootstrap CI and p); the path similarity
//     of same- versus different-label pairs with a permutation p (attribute.ComparePaths).
//     Items with an Image (a ViT, NeuronPath's own setting) are edited at the CLS token and
//     read the class probability; top-1 is then classification accuracy.
//   - VerifyKnowledge (Dai et al.'s 3_modify_activation.py): each fact's knowledge neurons
//     removed and enhanced at the last position of its own prompts and of the prompts of
//     another relation's fact (OtherRelationFacts: a random other relation, then a random fact
//     of it), per relation the ratio of means over own and over other prompts (facts without
//     neurons count with a change of 0, as in the published code), own − other against random
//     lists per fact; each fact's label tests own − other on its own prompts.
//   - Selectivity: the original single-set check (accuracy points rather than relative
//     drops, and its own verdict rule below); SelectivityOf reads it off a matrix row.
//     SelectivityImages is the same check on labelled images of a ViT (LabelledImages):
//     classification accuracy per group, the neurons ablated at every token of every image.
//
// # Random baselines and statistics
//
// Every claimed set is compared with Random (default DefaultRandom = 10) random sets with the
// same per-point counts at the same tap (RandomSet: at each point, indices uniform without
// replacement among the units not in the claimed set; set k with seed Seed+k), run through the
// same intervention recipe. A set mixing taps (CULNIG's gate pre-activations with attention
// q/k/v units) keeps its count at every layer and every tap. In item experiments each item's
// (or fact's) list j gets its own draws (RandomSetFor(list, Seed+k, j): stream j). CULNIG's
// published baseline draws only the total count, uniformly from the pooled candidate units of
// all layers (gate_proj and q/k/v), claimed units included: RandomPooled, behind
// MatrixOptions.RandomPool (`verify --random-pool`); the per-point rule is the default because
// it controls for where the units are. For a matrix row whose set is named after a group g, with every
// effect oriented so that the claim predicts a positive number (a hurt for ablations: relative
// accuracy drop, −Δprobability, perplexity ratio − 1; a gain for enhancement and steering):
//
//	target T       the oriented effect on g
//	selectivity S  T minus the unweighted mean oriented effect on the other groups (T alone
//	               when there are none)
//	p              (#{random sets with S_k ≥ S} + 1) / (n + 1), the empirical p-value with the
//	               +1 correction (EmpiricalP); with n random sets it is at least 1/(n+1)
//	effect size z  (S − mean S_k) / sd S_k (sample sd; absent when it is 0)
//	95% CI         percentile bootstrap of S over items: Resamples (2,000) resamples drawn with
//	               replacement within each group (group sizes fixed; Bootstrap, seeded), the
//	               2.5% and 97.5% quantiles by linear interpolation (Quantile, type 7)
//	bootstrap p    (#{resamples with S ≤ mean S_k} + 1)/(Resamples + 1) (BootstrapP): how often
//	               the items give a statistic no better than random sets do on average
//
// # Verdicts
//
// Test.Decide applies one rule, with MinEffect (DefaultMinEffect 0.05), Margin (DefaultMargin
// 2) and Alpha (DefaultAlpha 0.1):
//
//	no_effect      T < MinEffect: the intervention barely changes the claimed group
//	confirmed      S > 0, z ≥ Margin (or, when the random sd is 0, S above every random S_k),
//	               p ≤ Alpha, and the CI's lower end above the random mean
//	inconclusive   S clears the random sets by the margin, but n random sets cannot reach
//	               p ≤ Alpha (1/(n+1) > Alpha), or the CI's lower end is at or below the random
//	               mean (too few items to pin the effect down)
//	not_selective  otherwise: an effect no more selective than random sets of the same shape
//
// With the default 10 random sets the smallest p is 1/11 ≈ 0.091, so confirmed requires
// beating every random set; 19 or more random sets with Alpha 0.05 give the conventional
// level. A patching verification uses the recovered fraction for both T and S.
//
// Selectivity's own rule (kept for its report): no_effect if the target accuracy drop (in
// accuracy points) is below MinDrop (0.05); selective if the selectivity is > 0 and above the
// random mean + Margin·sd; else not_selective.
//
// # Labels
//
// Verify returns a labels.File: per group a Label with the claim (kind from the group key:
// relation, language, else concept; the value; a one-line description), the evidence (the
// finder, each unit's score, rank and percentile among every unit at its tap,
// 100·(1 − (rank−1)/population); AttachProfile adds top examples and LM-head/DLA tokens from a
// profile) and the Verification records, plus the matrices, sweeps and calibrations behind
// them. `neuronscope report --labels` shows them.
//
// Everything is deterministic: the same model, items, sets, options and seeds give the same
// numbers, whatever Workers is.
//
// Item experiments write their tables to the label file's item_effects (labels.ItemEffects).
//
// The CLI is `neuronscope verify --model DIR --neurons FILE (--eval FILE [--group-key KEY] |
// --text GROUP=FILE ... | --facts FILE) [--experiment matrix|sweep|enhance|steer|patch|path|
// knowledge] [--intervention zero|mean|resample|clamp|scale|force] --out labels.json`,
// `neuronscope steer`, and the older `neuronscope ablate selectivity`.
package ablate
