// Package ablate tests neuron labels causally: it overwrites a set of neurons during the
// forward pass and measures what that does to greedy fact-question accuracy, per group of
// questions, against random neuron sets of the same shape. It is the ground-truth scorer for
// finders that claim "these neurons are specific to relation r (or language ℓ)".
//
// # The neuron
//
// A Neuron {Layer, Index} is entry Index of the activation at one per-layer tap point,
// blocks.Layer.<site>. The default site (DefaultSite) is mlp.hook_post, the input of the MLP
// output projection: act(W_in x) for GPT-2/NeoX, act(gate(x))·up(x) for gated MLPs — "the
// neuron" of package model, and what attribute.Neuron indexes. Any per-layer site may be
// chosen instead (mlp.hook_pre, mlp.hook_pre_linear, hook_resid_post, attn.hook_z flattened,
// ...); Width gives its size. Every report records the site and the hook points edited.
// Neuron sets are JSON arrays [{"layer":L,"index":i}, ...] (ReadNeurons), validated against
// the model: a layer or index out of range, a repeated neuron or an empty set is an error
// naming the file and the entry.
//
// # Ablation
//
// An Ablation overwrites each of its neurons at every position of the prompt with
//
//	zero   0
//	mean   the neuron's mean over every real (non-pad) position of every prompt of the eval
//	       set, in the unablated model (ComputeMeans; float64 sums, one pass)
//	clamp  a fixed value
//
// through hooks.EditPoint at blocks.L.<site>, one edit per layer (Set builds them for any
// values). Edits run before captures at the same point, so a capture there sees the ablated
// values, and everything downstream of the point sees them too.
//
// # Accuracy
//
// An EvalSet holds fact questions: prompt token ids, the one answer token, and labels such as
// relation and language (ReadEvalSet reads the world's eval_facts.jsonl: every string field
// other than id, prompt and answer becomes a label). An item is correct when the argmax of the
// logits at the prompt's last position is the answer (greedy accuracy). Predict runs the
// prompts in batches, ordered by length and left-padded, so the last position of every row is
// the batch's last; position ids are cumsum(mask)−1, so padding changes no real position.
//
// # Selectivity
//
// For a label key (say relation) and a target group r, with accuracies as fractions:
//
//	drop(g)          = baseline accuracy of g − ablated accuracy of g
//	target drop      = drop(r)
//	mean other drop  = the unweighted mean of drop(g) over every group g ≠ r
//	selectivity      = target drop − mean other drop
//
// Selectivity computes these for the claimed set and for k ≥ 2 (default 5) random sets with
// the same per-layer counts, drawn by RandomSet with seeds seed, seed+1, ... (uniform without
// replacement among the layer's neurons outside the claimed set), and reports their means and
// sample standard deviations. The verdict is
//
//	no_effect      the target drop is below MinDrop (default 0.05)
//	selective      selectivity > 0 and > random mean + Margin·std (default 2 std)
//	not_selective  otherwise
//
// and Z = (claimed selectivity − random mean) / random std when that std is not 0. Everything
// is deterministic: the same model, set, neurons and options give the same report.
//
// The CLI is `neuronscope ablate selectivity --model DIR --eval eval_facts.jsonl --neurons
// FILE --group relation=capital_of [--mode zero|mean|clamp] [--random-seeds 5] [--hook-site
// mlp.hook_post] [--json] [--out FILE]`.
package ablate
