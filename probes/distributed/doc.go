// Package distributed runs dataset profiling (package profile) and activation counting
// (package language) as Apache Beam pipelines (the Beam Go SDK), so that a run outgrowing one
// machine goes to an existing distributed engine: locally on the embedded Prism runner, or on
// Flink, Spark or a Prism server through a portable job server. The outputs are those of the
// single-process run: profile.json, neuron_records/, neuronpedia/ and activation-probability
// files (README.md in this directory is the user's guide to submitting a job).
//
// # Use
//
//	files, err := distributed.ExpandData([]string{"shards/*.jsonl"})  // globs; sorted, each once
//	plan, err := distributed.NewPlan(files, enc, ctx, maxTokens)      // numbers the contexts
//	job := distributed.ProfileJob{ModelDir: dir, Plan: plan, Batch: 8, Points: names,
//		Options: opt, Shards: 8, Out: out, Settings: set, Provenance: prov}
//	err = distributed.RunProfile(ctx, job, distributed.Runner{Name: "prism"})
//
//	err = distributed.Run(ctx, distributed.CountPipeline(countJob), runner)  // probabilities
//
// `neuronscope profile --runner prism|direct|universal [--endpoint HOST:PORT] [--shards N]` and
// `neuronscope find language --model DIR --data ... --runner ...` are thin wrappers.
//
// # The profiling pipeline
//
//	Create(shard 0) ─ calibFn ─┬─ state files ──────────────────────────────────┐
//	                           └─ shards 1..n, each with the calibration        │
//	                              ─ Reshuffle ─ restFn ─ state files ───────────┴─ Flatten ─┐
//	CombinePerKey(mergeStates) ─ GroupByKey(one key) ─ writeFn ─ Out ─ Reshuffle ─ done ◄──┘
//
// No step with real work reads a side input or lacks an output: in Prism (Beam 2.77) either
// makes the runner busy-wait a core for as long as the step's bundle runs (calibrated and
// finish say how this was measured), which on a small machine is a core taken from the
// forwards and the writing.
//
// Contexts are numbered deterministically: the launcher reads the files once, in order
// (NewPlan: documents numbered over all files, contexts cut by corpus.Contexts, the MaxTokens
// cut applied to the whole), exactly as one process reading the files one after the other
// numbers them; Plan.Range then lets any worker produce any range of contexts, reading from the
// file that holds its first one. Shard 0 is the calibration prefix, contexts
// [0, ⌈CalibContext/Batch⌉·Batch) (profile.Options.CalibrationPrefix); the other shards are
// ranges of whole batches of the same batch grid after it, so every batch holds the same
// contexts as in a single process. The calibration shard's quantile boundaries and histogram
// widths (profile.Calibration) seed every other shard (profile.NewShard), which is the rule the
// shards agree on (profile's doc, "Shards and merging").
//
// The DoFns load the model once per worker process (Setup, through a per-process cache): the
// model directory is read from ModelDir, a path every worker must see (a shared filesystem, or
// a bucket mounted at the same path on every worker); a worker that cannot load it fails the
// job with an error naming the worker's host and that path. A worker runs one shard's forwards
// at a time (a forward already uses every core of the worker).
//
// Each shard writes its state, one file per hook point, into the staging directory (NewStaging:
// beside Out, seen by every worker) and emits the file names; the CombineFn (mergeStates) merges
// two files into a new one (profile.Merge), so a merge holds two states of one hook point in
// memory, O(neurons × (2K + Q·PerBin + RandomSample) × window), whatever the data's size, and
// the runner moves only names. The final step (writeFn) reads the merged states, checks that
// they agree (same options, tokens and contexts, the plan's totals), finishes the profile and
// writes the exports into a fresh directory inside Out, then renames every file into place:
// outputs appear only at the end, a failed or interrupted job leaves none (RunProfile removes
// the staging directory), and rerunning it is safe.
//
// Equality with the single process: every field of the exports is byte-identical except the
// last digits of mean, variance, skewness and kurtosis, which merge by Chan/Pébay in whatever
// order the runner combines (1e-12 relative; TestProfilePipelinePrism compares them).
//
// # The counting pipeline
//
//	Create(shards) ─ Reshuffle ─ countFn (language.Counter.Run) ─ Combine(mergeCounts) ─ writeProbs ─ Out
//
// Document i goes to shard i mod Shards; the counts are integers, so the merged probabilities
// equal the single process's exactly (byte-identical files).
//
// # Runners
//
// Run executes a pipeline on prism (in-process; with an Endpoint, a Prism job server), direct
// (the Go SDK's direct runner) or universal (a portable job server, Endpoint required). The
// environment type says how workers start: LOOPBACK (inside this process; the default), DOCKER
// (an SDK container image, EnvironmentConfig), PROCESS or EXTERNAL. With a non-loopback
// environment the running binary is staged as the worker binary; its main must call
// RunIfWorker first, as neuronscope's does.
//
// # Costs
//
// The launcher tokenizes the data once to plan (tokenizer only, no forward). Each shard writes
// one state (per neuron about 17.2 KB with the default options; profile's doc, "Scaling"),
// each merge reads two and writes one; the final step holds every merged hook point, as a
// single process does. BenchmarkShardState measures a shard's state and merge (profile's doc,
// "Scaling", has the numbers). BenchmarkPipelineThroughput compares the pipeline on Prism (2
// shards) with the single process over the same data, end to end with the exports, run
// alternately in one benchmark. On GPT-2 small (random weights) over 65,536 tokens: 78.0 against
// 78.9 tok/s, 0.99× (OpenBLAS build; the 2 cores were shared with other jobs at a load average
// of 12–20, which slows both alike). Before the pipeline avoided side inputs and output-less
// steps it measured 0.67× (127.8 against 191.5 tok/s over 131,072 tokens): Prism's watermark
// loop busy-waited a core for as long as a step with a side input ran (the shards' profiling,
// the final writing), and a step without outputs spun its stage loop the same way (calibrated
// and finish describe the measurements). On the demo model, whose forward is cheap, the
// pipeline's fixed costs weigh most (a calibration shard run alone, the state files written,
// merged and read back): 0.63× (0.28× before the change).
package distributed
