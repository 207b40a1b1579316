// Package steering compares steering directions on concepts whose ground truth is known: the
// SNMF paper's comparison (Shafran, Geiger & Geva 2025, arXiv 2506.10920, section "causal
// steering" and "concept detection"; see decompose) of SNMF features, sparse-autoencoder
// latents and difference-in-means directions, scored automatically on the synthetic world
// (internal/world), whose lexicons say which tokens belong to which language and relation,
// instead of by an LLM judge.
//
// Entry points: FromWorld builds a Task from a world's ground_truth.json; Compare runs the
// comparison; Result.TableText, Result.ConceptText and Result.SavePlot report it.
//
// # Procedure (Compare)
//
//  1. Activations: blocks.L.mlp.hook_post (the MLP hidden vector, [n, d_mlp]) at every
//     non-BOS real token of the task's fit text (mixed languages and relations).
//  2. SNMF (decompose.SNMF, the published algorithm; default rank 50, sparsity 0.01, 300
//     iterations) and a TopK SAE (package sae; default 4·d_mlp latents, k 16, 1000 steps of
//     256 tokens, lr 1e-3 — the reference's 1e-4 is tuned for millions of steps — and dead
//     after a quarter of the tokens seen) on the same rows. The SAE's FVU, L0, dead fraction
//     and CE increase when spliced in are measured on the fit text (sae.EvaluateInModel).
//  3. Concept detection, as the published concept_evaluator: a text's score for a direction v
//     is max over its non-BOS tokens of cos(a_t, v); the detection quality is the ROC-AUC of
//     the scores of the concept's positive texts against its neutral texts (Mann–Whitney,
//     ties ½). Each concept's texts are split in halves (even and odd positions of its
//     lists): the selection half picks the method's direction — the SNMF feature F_j and the
//     SAE decoder direction W_dec[j] with the highest ROC-AUC ("the best-matching feature",
//     "the best latent") — and the held-out half gives the reported AUC.
//  4. Directions steered per concept: the picked SNMF feature, the picked SAE latent, the
//     difference in means on the selection half (ablate.DiffInMeans: mean hook_post over every
//     real token of the positive texts minus over the neutral texts — the paper's DiffMean and
//     `neuronscope steer --diff-means`), and RandomDirections standard-normal random
//     directions (the control).
//  5. Steering, as the published intervener: add α·v/‖v‖ to hook_post at every position
//     (prompt and generated tokens), sign +1 (towards the concept). α is calibrated per
//     direction and KL target by ablate.Calibrate (bisection over α ∈ [1, 2000], 20 steps) on
//     KL(P_base ‖ P_steered) at the last token of the calibration prompt (Task.Calibration,
//     default the first generation prompt; the paper's is "I think that"), so every method is
//     compared at the same KL; the accepted |KL − target| is the paper's 0.01, tightened to
//     target/5 below 0.05 (Tolerance). A target a direction cannot reach is kept as
//     unreached and left out of the means (the table says how many concepts reached it);
//     the paper silently drops it.
//  6. Generation (ablate.Sample) from every prompt with the paper's sampling (top-k 30, top-p
//     0.3) and MaxNew tokens (default 16: the world models have 32 positions), one seeded draw
//     per prompt, and the same generations unsteered.
//
// # Scores
//
//   - Concept score: the fraction of generated tokens (all prompts pooled) that are in the
//     concept's lexicon. For a language, the lexicon is every word of that language (function,
//     relation and filler words; entity names belong to no language and count against it).
//     For a relation, it is the relation's noun and verb in every language: the only tokens
//     that name that relation and no other (its answers are entity names that other
//     relations share).
//   - Fluency: NLL, the mean negative log-likelihood per generated token under the unsteered
//     model given the prompt and the tokens before it; the fluency score is exp(−NLL) ∈ (0, 1]
//     (the geometric-mean probability per token).
//   - HarmonicMean = 2·c·f/(c + f) of the concept score c and the fluency score f, 0 when
//     either is 0 (AxBench-style, as the paper combines its judge's two scores).
//   - Lift: the concept score minus the unsteered generations' score for the same concept;
//     −random: the concept score minus the random directions' at the same KL target, paired
//     by concept.
//
// A cell of the table (Result.Table, method × KL target) averages over the concepts that
// reached the target (random directions averaged within a concept first); the 95% intervals
// are percentile bootstraps over the concepts (Bootstrap resamples, ablate.Bootstrap), so they
// say how much the answer depends on which concepts the world happens to plant. The random
// control must not score as the concept: its lift should be ≈ 0 and every real method's
// −random interval should exclude 0 where the method steers.
//
// # Limits
//
// The world models are tiny (4 layers, d_mlp 512, 32 positions): steering degrades their
// fluency much faster than a large model's, which is why DefaultTargets are below the paper's
// 0.025–0.5. The concept scores of relations are bounded well below 1 (a fact sentence has one
// relation word among 3–7 tokens). The SAE is small and briefly trained (see its FVU).
package steering
