// Package selection picks the training examples that a model processes like a small target
// set: each candidate is represented by its sparse activation profile (MLP neurons, or SAE
// latents / SNMF coefficients through a linear.Codes), the target exemplars' profiles are
// averaged into a prototype, and the candidates most similar to the prototype under the
// generalized Jaccard similarity are selected. It follows the idea of Ma et al., "Task-Specific
// Data Selection for Instruction Tuning via Monosemantic Neuronal Activations" (MoNA, arXiv
// 2503.15573): a model-centric representation, sparse (monosemantic) units, a weighted
// Jaccard similarity to a task prototype. The shared algorithms notes have no section on this
// paper, and the paper's code was not read: the pooling (max of |a| over tokens), the top-k
// sparsification and the prototype as the exemplars' mean profile are this package's choices,
// each an option, not a reproduction of the published code.
//
// # Use
//
//	act, units, err := selection.Activity(m, candidates, selection.ActivityOptions{BOS: bos}) // [n, units]
//	ex, _, err := selection.Activity(m, exemplars, selection.ActivityOptions{BOS: bos})
//	profiles := selection.Sparsify(act, len(candidates), units, nil, 64)
//	proto := selection.Prototype(selection.Sparsify(ex, len(exemplars), units, nil, 64), units)
//	chosen, scores, err := selection.Select(profiles, proto, 256)
//	cmp, err := selection.Compare(gainSelected, gainRandom) // after fine-tuning on each
//
// # Definitions
//
// Activity of example i at unit u (the units of every point, in point order):
//
//	a_iu = max_t |x_tu|          (MeanPool: mean_t |x_tu|)
//
// over the example's tokens t after its leading BOS, where x is the tap's activation
// (default blocks.L.mlp.hook_post of every layer) or its codes. Sparsify divides by a scale
// s_u (optional; e.g. UnitMeans, a unit's mean activity over the candidate pool, so that
// always-on units do not dominate) and keeps the k largest units (default DefaultTopK = 64;
// ties to the lower unit; zeros dropped): the profile r_i. The prototype is the mean of the
// exemplars' profiles, p_u = (1/E) Σ_e r_eu, dense. The similarity is
//
//	J(r, p) = Σ_u min(r_u, p_u) / Σ_u max(r_u, p_u)   ∈ [0, 1]  (0 when both are zero)
//
// and Select returns the n candidates of largest J (ties to the lower index).
//
// # Judging a selection
//
// Compare takes the per-seed gains of fine-tuning on the selection and on random selections
// of the same size and reports the difference of means, Cohen's d (pooled sample standard
// deviation) and the exact one-sided permutation p-value of the difference of means (all
// C(n₁+n₂, n₁) relabellings; p ≥ 1/C, so five seeds per arm give p ≥ 1/252).
//
// # SAE latents
//
// ActivityOptions.Codes reads a tap's units instead of its neurons: linear.SNMFCodes for SNMF
// coefficients, linear.EncoderCodes for any encoder with an SAE's Encode method (for a
// sae.SAE s: linear.EncoderCodes(s, s.DIn, s.DSAE, s.WDec)). MoNA's point is that SAE latents,
// being closer to monosemantic, avoid the spurious similarity polysemantic neurons give.
//
// # Invariants
//
// Activity, Sparsify, Prototype and Select are deterministic. Shapes are the caller's: a
// profile's units must be < units and a prototype must have one entry per unit; violating that
// is a programmer mistake and panics. Inputs that come from data (no examples, n out of range,
// an empty arm) are errors.
package selection
