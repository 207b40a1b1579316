// Package testdata embeds the trained Llama demo model and its world's evaluation files, so
// that `neuronscope demo` needs no files. The directories are ordinary, committed files too:
//
//	world/        the synthetic world (neuronscope world --out testdata/world)
//	world-llama/  a Llama trained on it (neuronscope train --arch llama ...)
//	world-gpt2/   a GPT-2 trained on it (neuronscope train --arch gpt2 ...)
//	tiny-llama/   a random-weight Llama for fast CLI tests (neuronscope make-random)
//
// See README.md in this directory for the exact commands that regenerate them bit for bit.
// The go tool skips directories named testdata when matching ./..., so this package is only
// built when imported.
package testdata

import "embed"

// DemoFS holds world-llama/{config.json,model.safetensors,tokenizer.json,training.json} and
// world/{eval_facts.jsonl,ground_truth.json,concept_task.jsonl,concept_control.jsonl,
// concept_exclude.jsonl,world.json,eval_fluency.jsonl}.
//
//go:embed world-llama/config.json world-llama/model.safetensors world-llama/tokenizer.json world-llama/training.json
//go:embed world/eval_facts.jsonl world/ground_truth.json
//go:embed world/concept_task.jsonl world/concept_control.jsonl world/concept_exclude.jsonl
//go:embed world/world.json world/eval_fluency.jsonl
var DemoFS embed.FS

// DemoModel and DemoWorld are the directories of DemoFS holding the model and the world.
const (
	DemoModel = "world-llama"
	DemoWorld = "world"
)
