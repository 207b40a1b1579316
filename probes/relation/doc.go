// Package relation finds relation-specific neurons (Liu, Chen, … Schütze, EMNLP 2025): units
// of the FFN whose mean response to a relation's prompts separates them from other relations'
// prompts, by average precision. Find is the entry point; MeanResponses is its model-side step.
//
// # Procedure (algorithms.md §2)
//
//  1. Per relation, Heldout items (the paper: 50) are held out for evaluation with no subject
//     shared with the remaining detection items (expertise.SplitBySubject, seeded).
//  2. Of the detection items, those the model answers correctly are the positives: Tokens
//     (2) greedy tokens whose first min(Tokens, len(answer)) tokens equal the answer's
//     (corpus.PromptSet.Correct; with a one-token answer, the next token).
//  3. Negatives × |positives| (4×) negatives are drawn, seeded, from the other relations'
//     correctly answered detection prompts (expertise.Sample); when the others have fewer
//     (unbalanced data), all of them are used, and Stats.Negatives says how many.
//  4. Each unit's response to a prompt is its activation averaged over the prompt's real
//     tokens (the paper's ô = (1/T) Σ_t o_t; BOS is a real token when the tokenizer adds it).
//     The candidate units are every output coordinate of gate_proj (mlp.hook_pre), up_proj
//     (mlp.hook_pre_linear, gated MLPs) and down_proj (hook_mlp_out, a residual-stream
//     dimension; for Gemma 2/3 after the post-feed-forward norm, where TransformerLens has
//     it): Llama-2-7B's 835,584.
//  5. A unit's score is the average precision of its responses, positives against negatives,
//     exactly as sklearn's average_precision_score (package expertise); the Top (3,000) units
//     are kept, or with BothEnds the Top/2 highest and lowest (Kojima et al.).
//
// The result is a hooks.NeuronSet with one group per relation (entries carry their own taps,
// score = AP, best first), the held-out items as a prompt set for verification (`neuronscope
// verify`: deactivate each relation's set by zeroing it at every position and measure the
// relative accuracy drop on every relation's held-out items), and per-relation statistics.
//
// # Deviations
//
// The paper's code is not published; its data splits and samplers cannot be matched bit for
// bit (expertise documents its seeded draws). Negatives come from correctly answered prompts of
// other relations (the paper says only "from the other relations").
package relation
