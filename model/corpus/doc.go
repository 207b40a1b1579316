// Package corpus is the one path from data files to a model: it reads documents and labelled
// prompt sets, tokenizes them under an explicit BOS policy, cuts documents into contexts,
// batches them with padding, streams them through the model with hooks (Run), and evaluates
// prompts greedily (Generate). Profiling, activation counting, SNMF and SAE activation
// collection, fact-question accuracy, training evaluation and the generate command are all
// built on it.
//
// # Entry points
//
//	ReadDocuments / FileDocuments   a .txt (a document per non-blank line) or .jsonl dataset
//	Encoder                         tokenizer + BOS policy + the model's BOS id and vocabulary
//	Contexts                        documents → contexts of at most Ctx tokens (ContextRule)
//	Run                             contexts → batches → forward passes with hooks
//	ReadPromptSet                   labelled prompts with answers (eval_facts.jsonl)
//	Generate, Next                  the evaluator (batched, left-padded, KV cache): greedy, or
//	                                sampled (Sampling, Sampler), ending at Stop tokens
//	Encoder.EncodeTarget            a target word: one token of the vocabulary, never <unk>
//
// # Documents
//
// A .jsonl line is a JSON string, an object with "text" (its other string fields become
// labels), an object with "ids" or "input_ids", or an array of token ids. Ids are used
// verbatim; text is tokenized with the model's tokenizer.json under the BOS policy (auto: as
// HF's add_special_tokens=True; always; never). Every id must be in the vocabulary.
//
// # Contexts
//
// Documents are cut into contexts of at most Ctx tokens that never span documents. When a
// text document begins with BOS, each continuation context starts with BOS again (so every
// context sees the same kind of first token); a document's last context may be shorter. In a
// batch, contexts are right-padded and pads are masked: no statistic counts them. A context
// knows its leading BOS positions (Context.BOS: the leading ids equal to the model's BOS id,
// in text and id documents alike), so that statistics can leave them out.
//
// # Prompts and answers
//
// A prompt set line has "prompt", "answer", an optional "id" and labels. The prompt is encoded
// under the BOS policy; the answer's tokens are those that encoding prompt+" "+answer adds
// after the prompt's (the answer must extend the prompt by whole tokens, and unless MultiToken
// be exactly one token). An item is correct when the first min(k, len(answer)) of the k
// greedily generated tokens equal the answer's first tokens.
//
// # Greedy evaluation
//
// Generate orders prompts by length, runs them BatchSize at a time left-padded (so every row's
// last position is the batch's last; position ids follow the mask, so padding changes no real
// position), takes the argmax (lowest id on ties) and continues with a KV cache. Hook options
// apply to every forward pass. A continuation ends after a token of Stop (e.g. the EOS id).
//
// # Sampling
//
// With GenerateOptions.Sampling, each token is drawn instead, in Hugging Face's order: logits
// ÷ Temperature; the TopK largest kept (ties with the K-th kept); the smallest set of most
// probable tokens whose probability reaches TopP kept (the crossing token included); a draw
// from the softmax of what is left. Prompt i draws from stream i of the seed (NewSampler: PCG
// seeded with (Seed, i)), so a continuation depends on the seed and its prompt only: batching
// changes nothing, and a steering experiment can replay a sampler per run.
//
// # Errors
//
// Problems with the input data are *InputError values naming the file and line; front ends
// report them as usage errors (exit code 2).
package corpus
