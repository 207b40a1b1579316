// Package ablate tests neuron labels causally: it overwrites a set of neurons during the
// forward pass and measures what that does to greedy fact-question accuracy, per group of
// questions, against random neuron sets of the same shape. It is the ground-truth scorer for
// finders that claim "these neurons are specific to relation r (or language ℓ)".
//
// # The neuron
//
// A neuron is a hooks.Neuron: a per-layer hook point and an index into its activation. Sets
// come from neuron-set files (hooks.ReadNeuronSet; the neuronscope.neurons/v1 format every
// finder writes, or the older bare [{"layer":L,"index":i}] arrays at mlp.hook_post) and are
// checked against the model with hooks.Catalog.CheckNeurons: a layer or index out of range, a
// point the model lacks, a repeated neuron or an empty set is an error naming the entry. The
// default site (DefaultSite) is mlp.hook_post, the input of the MLP output projection:
// act(W_in x) for GPT-2/NeoX, act(gate(x))·up(x) for gated MLPs. Any per-layer site may be
// used instead (mlp.hook_pre, mlp.hook_pre_linear, hook_resid_post, attn.hook_z flattened,
// ...); zeroing mlp.hook_pre of a gated MLP (the gate's pre-activation, so silu(0)·up = 0 for
// that neuron) is the same as zeroing hook_post only at that neuron's output, and mean or
// clamp ablation at the two sites are different experiments. Every report records the sites
// and the hook points edited.
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
// through hooks.EditPoint, one edit per hook point (Set builds them for any values). Edits run before captures at the same point, so a capture there sees the ablated
// values, and everything downstream of the point sees them too.
//
// # Accuracy
//
// Questions are a corpus.PromptSet: prompt token ids, the answer tokens, and labels such as
// relation and language (corpus.ReadPromptSet reads the world's eval_facts.jsonl: every
// string field other than id, prompt and answer becomes a label). An item is correct when the
// greedy next token (corpus.Next: argmax at the prompt's last position) is the answer's first
// token. Prompts run in batches ordered by length and left-padded; position ids are
// cumsum(mask)−1, so padding changes no real position.
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
// the same per-point counts, drawn by RandomSet with seeds seed, seed+1, ... (uniform without
// replacement among the point's units outside the claimed set), and reports their means and
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
