// Package demo runs the toolkit end to end on a model trained on the synthetic world (by
// default the Llama embedded from testdata/world-llama) and gathers one report: what the
// model is, a traced question, greedy accuracy on the held-out-template fact questions by
// relation and language, the neurons gradient × activation credits for each relation's
// answers with their LM-head decodings (RankRelationNeurons, the grad×act finder), and a check
// of each relation's set against the world's ground truth through ablate.Verify (the code of
// `neuronscope verify --experiment matrix`): the relation × relation matrix of zero ablation,
// random same-layer sets, p-values, verdicts and a label file. Two gradient finders follow,
// each verified: CULNIG's concept neurons (attribute.FindConcept on the world's concept sets,
// grouped by continent; each group suppressed and enhanced through ablate.Verify, "general" on
// every question) and NeuronPath's influential paths (attribute.NeuronPath on one question per
// relation × language; ablate.VerifyPaths against the activation baselines and random paths,
// with the path similarity by relation and language). Two finders from activation statistics
// follow when the world's config and held-out filler are given (Inputs.Language,
// WorldLanguageInputs): language neurons (language.Counter over each language's training
// sentences at the LAPE tap, LAPE at LanguageTopRates and the alignment score with its λ
// search; each language's neurons zeroed and every language's filler perplexity measured
// against random sets) and relation-specific neurons (relation.Find, RelationHeldout
// questions held out per relation, the RelationTop units by average precision; the relation ×
// relation matrix of relative accuracy drops with the filler's perplexity, and the
// cumulativity sweep). The structure stage (AnalyzeStructure; Options.SkipStructure turns it
// off) adds, on 24 questions per relation, the NerVE spectra of every layer (probes/spectra),
// 16 bricks per layer against random partitions (probes/bricks) and per-layer relation probes
// against the majority baseline (probes/linear); StructureData runs each part alone with other
// sizes (the notebooks 09–11). The earlier stages do not depend on the later ones: their
// numbers are those they gave before those stages existed.
//
// A "neuron" here is one unit of blocks.L.mlp.hook_post: the MLP's hidden activation after
// the nonlinearity (after gate ⊙ up for SwiGLU), the input of the down projection; the
// concept stage's units are those CULNIG scores and intervenes on, the gate and up projections'
// outputs (mlp.hook_pre, mlp.hook_pre_linear) and the attention q/k/v projections'.
//
// `neuronscope demo [--out DIR]` is the command-line door; Run is the Go one.
package demo
