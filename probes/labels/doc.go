// Package labels defines neuronscope's label records: what a finder claims about a group of
// neurons, the evidence it gave, and the experiments that checked the claim. Package ablate's
// verification experiments write them (ablate.Verify, `neuronscope verify`), and
// `neuronscope report --labels` shows them; every later finder, SNMF and SAE result is
// labelled and verified in this format. The entry point is File (ReadFile, File.WriteFile).
//
// # The file
//
// A label file has schema_version "neuronscope.labels/v1" (Schema) and holds
//
//	provenance  the tool, model (directory, config sha256), BLAS, BOS policy, seed
//	inputs      every data file read, with its sha256 and size (HashInput)
//	settings    the run's settings (free-form)
//	labels      one Label per neuron group
//	matrices    group × group results (Matrix): per set (row) and group (column) the
//	            measure after the intervention, its effect, the random sets' effects
//	            (mean, sd, min, max, n) and the empirical p; interference listed
//	sweeps      cumulativity results (Sweep): per k the effect on the claimed group, the
//	            mean on the others and the random band
//	steering    KL calibrations (Steering): per target and sign the α found, the KL reached,
//	            whether it was reached and why not, generations and group effects
//	patching    activation-patching results (Patching)
//	item_effects  experiments in which every item has its own neurons (ItemEffects: paths,
//	            knowledge neurons): per kind or relation and intervention the pooled effect,
//	            the random lists' effects and p; paired comparisons; path similarity
//
// # A label
//
// A Label names its group (Set, as in the neuron-set file) and carries
//
//	claim          kind (relation, language, concept, token, path, feature, fact), the group key
//	               it is about, the value, and a one-line description built from the evidence
//	               and the first verification
//	units          the neurons in the finder's order (hook, index, score, rank 1..k,
//	               percentile = 100·(1 − (rank−1)/population) among every unit at the tap,
//	               and, from a profile, top activating contexts and LM-head/DLA tokens)
//	evidence       the finder, the neuron-set file, the population and the per-layer counts
//	verifications  one per experiment: the intervention, the measure, the tested statistic
//	               (Effect; Target its value on the claimed group, Others the mean on the
//	               others), the random sets' statistic (Stat), the empirical p-value, the
//	               effect size, the bootstrap 95% CI and p-value over items, the verdict with its rule,
//	               notes (interference, unreachable KL targets) and a reference to the full
//	               result ("matrices[0]")
//	verdict        the first verification's verdict
//
// Verdicts are Confirmed, NotSelective, NoEffect and Inconclusive; package ablate's
// documentation gives the rule that decides them.
//
// Labels of one model say nothing about another: File.CheckModel compares config hashes.
// File.ForNeuron gives the per-neuron view the profile dashboard shows (NeuronLabel,
// NeuronVerdict); File.Merge joins the results of several experiments on one neuron set.
package labels
