package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/report"
	"github.com/neuronscope/neuronscope/sae"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
)

func init() { extraCommands = append(extraCommands, newSAECmd) }

// saeTrainSchema is the schema_version of training.json written by `sae train`.
const saeTrainSchema = "neuronscope.sae.train/v1"

func newSAECmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sae train|eval|convert ...",
		Short: "Sparse autoencoders: train TopK, ReLU-L1 and JumpReLU SAEs on activations, evaluate them in the model, convert SAELens files",
		Example: `  neuronscope trace --model testdata/world-llama --jsonl train.jsonl --hooks blocks.2.mlp.hook_post --out acts.safetensors
  neuronscope sae train --acts acts.safetensors --arch topk --k 32 --steps 1000 --out sae-topk
  neuronscope sae eval --sae sae-topk --model testdata/world-llama --acts acts.safetensors --json`,
		Args: cobra.ArbitraryArgs,
		RunE: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("sae: unknown subcommand %q (have: train, eval, convert)", args[0])
			}
			return usagef("sae needs a subcommand: train, eval or convert")
		},
	}
	cmd.AddCommand(newSAETrainCmd(), newSAEEvalCmd(), newSAEConvertCmd())
	return cmd
}

// actsFlags choose the activations of an --acts file.
type actsFlags struct {
	path    string
	hook    string
	dropBOS bool
}

func (f *actsFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.path, "acts", "", "activations FILE: a safetensors file holding one [n, d] tensor, or the output of neuronscope trace")
	cmd.Flags().StringVar(&f.hook, "hook", "", "tensor to read from --acts (a trace file's hook name, e.g. blocks.3.mlp.hook_post); needed when the file has several")
	cmd.Flags().BoolVar(&f.dropBOS, "drop-bos", false, "drop the first real token of every sequence of a trace file (the BOS position)")
}

func (f *actsFlags) open() (*sae.Activations, error) {
	if f.path == "" {
		return nil, usagef("--acts is required")
	}
	a, err := sae.OpenActivations(f.path, sae.ActivationOptions{Tensor: f.hook, DropFirst: f.dropBOS})
	if err != nil {
		return nil, usageError{err}
	}
	return a, nil
}

type saeTrainFlags struct {
	acts                   actsFlags
	mf                     modelFlags
	ds                     datasetFlags
	layers                 string
	buffer                 int
	arch, latents          string
	ks, sparsity           string
	batchTopK              bool
	auxk                   int
	deadTokens             int64
	steps, batch           int
	lr                     float64
	warmup, decay          int
	seed, dataSeed         uint64
	statsRows, evalRows    int
	out                    string
	checkpointEvery        int
	resume                 bool
	asJSON, quiet          bool
	modelName, hookName    string
	dtype                  string
	scaleInputs, applyBDec bool
	threshold, bandwidth   float64
}

// saeTrainReport is training.json.
type saeTrainReport struct {
	Schema     string            `json:"schema_version"`
	Provenance report.Provenance `json:"provenance"`
	Acts       string            `json:"acts"`
	Tensor     string            `json:"tensor"`
	Rows       int               `json:"rows"`
	DataSeed   uint64            `json:"data_seed"`
	SAEs       []saeTrainEntry   `json:"saes"`
	Seconds    float64           `json:"seconds"`
}

type saeTrainEntry struct {
	Dir     string          `json:"dir"`
	Config  sae.TrainConfig `json:"config"`
	Final   sae.StepStats   `json:"final_step"`
	Metrics sae.Metrics     `json:"metrics"` // over the first eval rows of --acts
	Curve   []sae.StepStats `json:"curve"`   // about 100 points
	// StepsPerSecond is the training speed of this run (all SAEs share the batches).
	StepsPerSecond float64 `json:"steps_per_second"`
}

func newSAETrainCmd() *cobra.Command {
	var f saeTrainFlags
	cmd := &cobra.Command{
		Use:   "train (--acts FILE [--hook NAME] | --model DIR --data FILE --layer L [--hook mlp.hook_post] [--buffer 65536]) --arch topk|relu|jumprelu [--latents 4x] [--k 32] [--steps N] [--batch 1024] [--seed S] --out DIR",
		Short: "Train sparse autoencoders on activations and write them in SAELens's format",
		Example: `  neuronscope sae train --model testdata/world-llama --data testdata/world/train.txt --layer 2 --arch topk --k 16 --steps 500 --batch 256 --out sae-topk
  neuronscope sae train --acts acts.safetensors --arch topk --k 32,64 --steps 1000 --out saes
  neuronscope sae train --acts acts.safetensors --arch jumprelu --steps 2000 --checkpoint-every 500 --out sae-jr`,
		Long: `Train fits sparse autoencoders to the rows of an activation file (one [n, d] tensor, or the
[batch, pos, d] hook tensor of 'neuronscope trace' output with its pads dropped) and writes each in
SAELens's format: DIR/cfg.json and DIR/sae_weights.safetensors, plus DIR/training.json (settings,
loss curve, final metrics, provenance).

Architectures and their reference recipes (see 'go doc github.com/neuronscope/neuronscope/sae'):
  topk      OpenAI's TopK SAE: k latents per token (--batch-topk: k on average over a batch),
            AuxK loss on dead latents, unit-norm decoder, Adam lr 1e-4 eps 6.25e-10
  relu      ReLU + L1 weighted by decoder norms (Anthropic, April 2024; SAELens "standard"),
            --sparsity is λ (default 5, warmed up over 5% of steps), inputs scaled to E‖x‖ = √d
  jumprelu  JumpReLU / threshold SAE with an L0 penalty (--sparsity is λ_L0, default 1),
            rectangle-kernel straight-through estimators, θ₀ 0.1, lr 3e-3

--k and --sparsity take comma-separated lists: every value trains its own SAE from the same
pass over the data, written to DIR/<arch>-k<K> or DIR/<arch>-s<λ>.

Training is deterministic: the same file, flags and build give the same bytes. With
--checkpoint-every N the full state goes to DIR/trainer_state.safetensors every N steps, and
--resume continues from it bit for bit (with exactly the same settings). A NaN or infinity in
the activations or the loss stops training with the step named, keeping the last checkpoint.

With --model DIR --data FILE the activations are streamed: the dataset is cut into --ctx-token
contexts as 'neuronscope profile' reads it (documents never spanned, --bos policy, --max-tokens),
the model runs over them --contexts-per-pass at a time in the background, and the rows of
blocks.L.<--hook> at every real token except leading BOS positions (pads never count) pass
through a shuffling buffer of --buffer rows: each batch row is a uniformly drawn buffer slot,
refilled with the next produced row. Memory is bounded by --buffer (plus the dataset's token
ids); the data loops when --steps need more rows than one pass. Streaming is deterministic and
resumable like a file: a checkpoint records the buffer and the position in the dataset. The
final metrics are taken on the first --eval-rows rows of the dataset. --layer 1,3 reads several
layers in the same forward passes and trains the --k/--sparsity SAEs for each, written to
DIR/blocks.L.<hook>[/<arch>-k<K>]: each is exactly the SAE a pass over its layer alone trains.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runSAETrain(cmd, &f) },
	}
	f.acts.register(cmd)
	f.mf.register(cmd)
	f.ds.register(cmd, "contexts-per-pass")
	fl := cmd.Flags()
	fl.StringVar(&f.layers, "layer", "", "--model: layer of the hook (with a site name in --hook, default mlp.hook_post); several (1,3) train SAEs for each layer from one pass, in DIR/blocks.L.<hook>")
	fl.IntVar(&f.buffer, "buffer", 65536, "--model: rows held in the shuffling buffer (memory: rows × d_in × 4 bytes, plus two refill chunks)")
	fl.StringVar(&f.arch, "arch", "topk", "architecture: topk, relu or jumprelu")
	fl.StringVar(&f.latents, "latents", "4x", "number of latents: N, or a multiple of d_in such as 4x")
	fl.StringVar(&f.ks, "k", "32", "topk: latents kept per token (comma-separated for several SAEs)")
	fl.StringVar(&f.sparsity, "sparsity", "", "relu: L1 coefficient λ (default 5); jumprelu: L0 coefficient (default 1); comma-separated for several SAEs")
	fl.BoolVar(&f.batchTopK, "batch-topk", false, "topk: keep k·batch latents per batch (BatchTopK), saved as a JumpReLU SAE")
	fl.IntVar(&f.auxk, "auxk", 256, "topk: dead latents per token in the AuxK loss (capped at the number of latents; 0: none)")
	fl.Int64Var(&f.deadTokens, "dead-tokens", 0, "tokens without firing after which a latent counts as dead (default: topk 10M, others 1000 batches)")
	fl.Float64Var(&f.threshold, "init-threshold", 0.1, "jumprelu: initial threshold θ₀")
	fl.Float64Var(&f.bandwidth, "bandwidth", 0.05, "jumprelu: bandwidth ε of the straight-through estimators")
	fl.IntVar(&f.steps, "steps", 2000, "optimiser steps")
	fl.IntVar(&f.batch, "batch", 1024, "tokens per step")
	fl.Float64Var(&f.lr, "lr", 0, "learning rate (default: topk 1e-4, relu 5e-5, jumprelu 3e-3)")
	fl.IntVar(&f.warmup, "lr-warmup", 0, "linear learning-rate warm-up steps")
	fl.IntVar(&f.decay, "lr-decay", -1, "steps of linear learning-rate decay to 0 at the end (default: topk 0, others 20% of --steps)")
	fl.Uint64Var(&f.seed, "seed", 42, "seed of the initial weights")
	fl.Uint64Var(&f.dataSeed, "data-seed", 1, "seed of the order in which rows are drawn")
	fl.IntVar(&f.statsRows, "stats-rows", 32768, "rows for the initial statistics (geometric median, variance, input scale)")
	fl.IntVar(&f.evalRows, "eval-rows", 65536, "rows of --acts the final metrics are computed on")
	fl.BoolVar(&f.scaleInputs, "scale-inputs", false, "scale inputs so E‖x‖ = √d_in, folded into the saved weights (default: on for relu and jumprelu; =false turns it off)")
	fl.BoolVar(&f.applyBDec, "apply-b-dec-to-input", false, "subtract b_dec before encoding (default: on for topk and jumprelu; =false turns it off)")
	fl.StringVar(&f.out, "out", "", "output directory (SAELens files)")
	fl.IntVar(&f.checkpointEvery, "checkpoint-every", 0, "write DIR/trainer_state.safetensors every N steps (0: never)")
	fl.BoolVar(&f.resume, "resume", false, "continue from DIR/trainer_state.safetensors (same settings and data)")
	fl.StringVar(&f.modelName, "model-name", "", "model_name for cfg.json (default: the trace file's model directory name)")
	fl.StringVar(&f.hookName, "hook-name", "", "hook_name for cfg.json (default: the tensor name when it is a hook)")
	fl.StringVar(&f.dtype, "dtype", "float32", "stored weight dtype: float32, bfloat16 or float16")
	fl.BoolVar(&f.asJSON, "json", false, "print training.json to stdout")
	fl.BoolVar(&f.quiet, "quiet", false, "no progress bar")
	return cmd
}

// parseLatents reads --latents: "4x" (a multiple of d_in) or a count.
func parseLatents(s string, dIn int) (int, error) {
	if v, ok := strings.CutSuffix(s, "x"); ok {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f > 0) {
			return 0, usagef("--latents %q: want N or a positive multiple such as 4x", s)
		}
		return max(1, int(f*float64(dIn)+0.5)), nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, usagef("--latents %q: want N or a positive multiple such as 4x", s)
	}
	return n, nil
}

func parseList(flag, s string, parse func(string) (float64, error)) ([]float64, error) {
	var out []float64
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		v, err := parse(part)
		if err != nil {
			return nil, usagef("--%s: %q is not a number", flag, part)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, usagef("--%s is empty", flag)
	}
	return out, nil
}

// saeConfigs builds one TrainConfig per --k (topk) or --sparsity value, and their output dirs.
func saeConfigs(cmd *cobra.Command, f *saeTrainFlags, arch sae.Arch, dIn, rows int) ([]sae.TrainConfig, []string, error) {
	m, err := parseLatents(f.latents, dIn)
	if err != nil {
		return nil, nil, err
	}
	changed := cmd.Flags().Changed
	var values []float64
	key := "k"
	if arch == sae.TopK {
		if changed("sparsity") {
			return nil, nil, usagef("--sparsity applies to relu and jumprelu; topk uses --k")
		}
		values, err = parseList("k", f.ks, func(s string) (float64, error) { v, err := strconv.Atoi(s); return float64(v), err })
	} else {
		if changed("k") || f.batchTopK {
			return nil, nil, usagef("--k and --batch-topk apply to topk; %s uses --sparsity", arch)
		}
		key = "s"
		def := sae.DefaultTrainConfig(arch, dIn, m, 1, 1).Sparsity
		s := f.sparsity
		if s == "" {
			s = strconv.FormatFloat(def, 'g', -1, 64)
		}
		values, err = parseList("sparsity", s, func(s string) (float64, error) { return strconv.ParseFloat(s, 64) })
	}
	if err != nil {
		return nil, nil, err
	}
	var cfgs []sae.TrainConfig
	var dirs []string
	for _, v := range values {
		c := sae.DefaultTrainConfig(arch, dIn, m, f.steps, f.batch)
		if arch == sae.TopK {
			c.K = int(v)
			c.BatchTopK = f.batchTopK
			c.AuxK = min(f.auxk, m)
		} else {
			c.Sparsity = v
		}
		if arch == sae.JumpReLU {
			c.InitThreshold, c.Bandwidth = f.threshold, f.bandwidth
		} else if changed("init-threshold") || changed("bandwidth") {
			return nil, nil, usagef("--init-threshold and --bandwidth apply to jumprelu")
		}
		if changed("dead-tokens") {
			c.DeadTokens = f.deadTokens
		}
		if f.lr != 0 {
			c.LR = f.lr
		}
		c.LRWarmup = f.warmup
		if f.decay >= 0 {
			c.LRDecay = f.decay
		}
		if changed("scale-inputs") {
			c.ScaleInputs = f.scaleInputs
		}
		if changed("apply-b-dec-to-input") {
			c.ApplyBDecToInput = f.applyBDec
		}
		c.Seed = f.seed
		c.StatsRows = min(f.statsRows, rows)
		if err := c.Validate(); err != nil {
			return nil, nil, usageError{err}
		}
		cfgs = append(cfgs, c)
		name := strconv.FormatFloat(v, 'g', -1, 64)
		dirs = append(dirs, filepath.Join(f.out, fmt.Sprintf("%s-%s%s", map[sae.Arch]string{sae.TopK: "topk", sae.Standard: "relu", sae.JumpReLU: "jumprelu"}[arch], key, name)))
	}
	if len(cfgs) == 1 {
		dirs[0] = f.out
	}
	return cfgs, dirs, nil
}

// traceModelName is the model directory name recorded in a trace file's provenance.
func traceModelName(meta map[string]string) string {
	var p struct {
		ModelDir string `json:"model_dir"`
	}
	if json.Unmarshal([]byte(meta["neuronscope"]), &p) == nil && p.ModelDir != "" {
		return filepath.Base(filepath.Clean(p.ModelDir))
	}
	return ""
}

// trainInput is what sae train reads: a resumable batcher over the rows, their width, and what
// the report and the saved SAE name.
type trainInput struct {
	batcher sae.Resumable
	width   int
	// taps are the hooks (or the file's tensor) side by side in a row, widths their widths.
	taps      []string
	widths    []int
	rows      int    // rows of one pass over the data
	tensor    string // the tensor or hook the rows come from
	modelName string
	path      string // --acts or --data
	source    string // for the checkpoint and provenance
	// eval returns the first n rows of the data, for the final metrics.
	eval  func(n int) (*sae.Rows, error)
	close func()
}

// trainData opens the training activations: an activation file (rows in memory, mapped, so an
// epoch-shuffling batcher is used), or a model streamed over a dataset through a bounded
// ShuffleBuffer refilled in the background (streamData).
func trainData(cmd *cobra.Command, f *saeTrainFlags) (*trainInput, error) {
	switch {
	case f.mf.dir != "" || f.ds.data != "":
		if f.acts.path != "" {
			return nil, usagef("give --acts FILE or --model DIR --data FILE, not both")
		}
		return streamData(cmd, f)
	case cmd.Flags().Changed("layer") || cmd.Flags().Changed("buffer"):
		return nil, usagef("--layer and --buffer apply to --model --data")
	}
	a, err := f.acts.open()
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(f.acts.path)
	if err != nil {
		a.Close()
		return nil, usagef("--acts: %v", err)
	}
	abs, _ := filepath.Abs(f.acts.path)
	source := fmt.Sprintf("%s:%s rows=%d width=%d bytes=%d drop_bos=%v", abs, a.Tensor, a.Len(), a.Width(), st.Size(), f.acts.dropBOS)
	return &trainInput{batcher: sae.NewShuffled(a.Rows, f.dataSeed), width: a.Width(), rows: a.Len(), tensor: a.Tensor,
		taps: []string{a.Tensor}, widths: []int{a.Width()},
		modelName: traceModelName(a.Metadata), path: f.acts.path, source: source,
		eval: func(n int) (*sae.Rows, error) {
			r := &sae.Rows{Data: a.Data, W: a.W, Index: a.Index, Name: a.Name}
			if r.Len() > n {
				r = sae.NewRows(a.Head(n), a.W, a.Name)
			}
			return r, nil
		},
		close: func() { a.Close() }}, nil
}

// streamData opens --model over --data: the dataset's contexts (token ids only), a
// ModelProducer at the tap that drops each context's leading BOS positions and loops, and a
// ShuffleBuffer of --buffer rows over it.
func streamData(cmd *cobra.Command, f *saeTrainFlags) (*trainInput, error) {
	switch {
	case f.mf.dir == "":
		return nil, usagef("--data needs --model: the checkpoint to stream the dataset through")
	case f.ds.data == "":
		return nil, usagef("--model needs --data: the dataset to stream through it (or give --acts without --model)")
	case f.acts.dropBOS:
		return nil, usagef("--drop-bos applies to --acts; with --data leading BOS positions are always left out")
	case f.buffer < 1:
		return nil, usagef("--buffer %d: want ≥ 1 rows", f.buffer)
	}
	m, err := f.mf.load(cmd)
	if err != nil {
		return nil, err
	}
	in, err := streamInput(cmd, f, m)
	if err != nil {
		m.Close()
		return nil, err
	}
	return in, nil
}

func streamInput(cmd *cobra.Command, f *saeTrainFlags, m *model.Model) (*trainInput, error) {
	layers := []int{-1}
	if f.layers != "" {
		ls, err := parseInts(f.layers)
		if err != nil || len(ls) == 0 {
			return nil, usagef("--layer %q: want a layer or a comma-separated list", f.layers)
		}
		layers = ls
	}
	var points []hooks.Point
	var taps []string
	var widths []int
	for _, l := range layers {
		p, err := modelTap(m, l, f.acts.hook)
		if err != nil {
			return nil, err
		}
		if slices.Contains(points, p) {
			return nil, usagef("--layer %s names %s twice", f.layers, p)
		}
		points, taps, widths = append(points, p), append(taps, p.String()), append(widths, m.Catalog().Width(p))
	}
	if len(points) > 1 && f.hookName != "" {
		return nil, usagef("--hook-name names one hook; with several layers each SAE takes its own")
	}
	ds, err := f.ds.open(cmd, m, "contexts-per-pass")
	if err != nil {
		return nil, err
	}
	seqs, leading, tokens, err := ds.sequences()
	if err != nil {
		return nil, err
	}
	rows := 0
	for i, s := range seqs {
		rows += len(s) - leading[i]
	}
	if rows == 0 {
		return nil, usagef("--data %s: no tokens left after leaving out BOS positions", f.ds.data)
	}
	prod, err := sae.NewModelProducer(m, points, seqs, f.ds.perPass)
	if err != nil {
		return nil, usageError{err}
	}
	if err := prod.SetDropLeading(leading); err != nil {
		return nil, err
	}
	prod.Loop = true
	buf, err := sae.NewShuffleBuffer(prod, f.buffer, f.dataSeed)
	if err != nil {
		return nil, usageError{err}
	}
	w := prod.Width()
	tap := strings.Join(taps, ",")
	source := fmt.Sprintf("%s at %s over %s: %d tokens in %d contexts, %d rows; buffer %d rows", m.Dir, tap, ds.desc, tokens, len(seqs), rows, f.buffer)
	return &trainInput{batcher: buf, width: w, rows: rows, tensor: tap, taps: taps, widths: widths, modelName: filepath.Base(filepath.Clean(m.Dir)),
		path: f.ds.data, source: source,
		eval: func(n int) (*sae.Rows, error) { return hookRows(m, points, seqs, leading, f.ds.perPass, n) },
		close: func() {
			buf.Close()
			m.Close()
		}}, nil
}

func runSAETrain(cmd *cobra.Command, f *saeTrainFlags) error {
	if f.out == "" {
		return usagef("--out is required")
	}
	arch, err := sae.ParseArch(f.arch)
	if err != nil {
		return usageError{fmt.Errorf("--arch: %w", err)}
	}
	if f.steps < 1 || f.batch < 1 {
		return usagef("--steps %d and --batch %d must be ≥ 1", f.steps, f.batch)
	}
	if f.checkpointEvery < 0 {
		return usagef("--checkpoint-every %d must be ≥ 0", f.checkpointEvery)
	}
	if f.resume && f.checkpointEvery == 0 {
		return usagef("--resume needs --checkpoint-every (the same value the run started with)")
	}
	switch f.dtype {
	case "float32", "bfloat16", "float16":
	default:
		return usagef("--dtype %q: want float32, bfloat16 or float16", f.dtype)
	}
	in, err := trainData(cmd, f)
	if err != nil {
		return err
	}
	defer in.close()
	batcher, source := in.batcher, in.source
	// One set of SAEs (a --k or --sparsity list) per tap, each reading its tap's columns.
	var cfgs []sae.TrainConfig
	var dirs, hookNames []string
	col := 0
	for i, tap := range in.taps {
		c, d, err := saeConfigs(cmd, f, arch, in.widths[i], in.rows)
		if err != nil {
			return err
		}
		hookName := f.hookName
		if hookName == "" {
			if _, err := hooks.Parse(tap); err == nil {
				hookName = tap
			} else {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: tensor %q is not a hook name; give --hook-name so the SAE can be spliced into a model\n", tap)
			}
		}
		for j := range c {
			c[j].Column = col
			if len(in.taps) > 1 {
				rel, _ := filepath.Rel(f.out, d[j])
				d[j] = filepath.Join(f.out, tap, rel)
			}
			hookNames = append(hookNames, hookName)
		}
		cfgs, dirs = append(cfgs, c...), append(dirs, d...)
		col += in.widths[i]
	}
	modelName := f.modelName
	if modelName == "" {
		modelName = in.modelName
	}
	if err := os.MkdirAll(f.out, 0o755); err != nil {
		return usagef("--out: %v", err)
	}
	ckPath := filepath.Join(f.out, "trainer_state.safetensors")
	var trainers []*sae.Trainer
	if f.resume {
		ck, err := sae.ReadCheckpoint(ckPath)
		if err != nil {
			return usageError{err}
		}
		if trainers, err = ck.Resume(batcher, cfgs, source); err != nil {
			return usageError{err}
		}
	} else {
		if f.checkpointEvery > 0 {
			if _, err := os.Stat(ckPath); err == nil {
				return usagef("%s exists: pass --resume to continue it, or remove it to start afresh", ckPath)
			}
		}
		for _, c := range cfgs {
			t, err := sae.NewTrainer(c)
			if err != nil {
				return usageError{err}
			}
			trainers = append(trainers, t)
		}
	}
	var bar *progressbar.ProgressBar
	if !f.quiet {
		bar = progressbar.NewOptions(f.steps, progressbar.OptionSetWriter(cmd.ErrOrStderr()),
			progressbar.OptionSetDescription("training"), progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(200*time.Millisecond))
		_ = bar.Set(trainers[0].Steps())
	}
	entries := make([]saeTrainEntry, len(trainers))
	every := max(1, f.steps/100)
	start := time.Now()
	firstStep := trainers[0].Steps()
	opt := sae.RunOptions{Source: source, OnStep: func(i int, st sae.StepStats) {
		e := &entries[i]
		e.Final = st
		if st.Step%every == 0 || st.Step == f.steps {
			e.Curve = append(e.Curve, st)
		}
		if bar != nil && i == 0 {
			bar.Describe(fmt.Sprintf("training  mse %.4g  fvu %.4f  L0 %.1f  dead %.1f%%", st.MSE, st.FVU, st.L0, 100*st.DeadFraction))
			_ = bar.Add(1)
		}
	}}
	if f.checkpointEvery > 0 {
		opt.Checkpoint, opt.CheckpointEvery = ckPath, f.checkpointEvery
	}
	err = sae.Train(batcher, trainers, opt)
	if bar != nil {
		_ = bar.Finish()
		fmt.Fprintln(cmd.ErrOrStderr())
	}
	if err != nil {
		var nf *sae.NonFiniteError
		if errors.As(err, &nf) && f.checkpointEvery > 0 {
			return fmt.Errorf("%w (the last good checkpoint, if any, is %s)", err, ckPath)
		}
		return err
	}
	secs := time.Since(start).Seconds()
	rep := saeTrainReport{Schema: saeTrainSchema, Provenance: report.New(), Acts: in.path, Tensor: in.tensor,
		Rows: in.rows, DataSeed: f.dataSeed, Seconds: secs}
	seed := int64(f.seed)
	rep.Provenance.Seed, rep.Provenance.Dataset = &seed, source
	rep.Provenance.ModelDir = modelName
	evalRows, err := in.eval(f.evalRows)
	if err != nil {
		return err
	}
	for i, t := range trainers {
		layer := -1
		if p, err := hooks.Parse(hookNames[i]); err == nil && p.Site.PerLayer() {
			layer = p.Layer
		}
		s := t.SAE(hookNames[i], layer, modelName)
		s.DatasetPath = in.path
		if err := s.Save(dirs[i], sae.SaveOptions{DType: f.dtype, Extra: map[string]any{"neuronscope_training": t.Config()}}); err != nil {
			return err
		}
		saved, err := sae.Load(dirs[i])
		if err != nil {
			return err
		}
		mt, err := sae.Evaluate(saved, evalRows, t.Config().Column, 4096)
		if err != nil {
			return err
		}
		e := &entries[i]
		e.Dir, e.Config, e.Metrics = dirs[i], t.Config(), mt
		e.StepsPerSecond = float64(t.Steps()-firstStep) / secs
		rep.SAEs = append(rep.SAEs, *e)
	}
	if err := report.WriteJSONFile(filepath.Join(f.out, "training.json"), rep); err != nil {
		return err
	}
	if f.asJSON {
		return report.WriteJSON(cmd.OutOrStdout(), rep)
	}
	w := cmd.OutOrStdout()
	for _, e := range rep.SAEs {
		fmt.Fprintf(w, "%s: %s %d→%d, %d steps: fvu %.4f  nmse %.4f  L0 %.1f  dead %.1f%%  dense %.1f%%  (%d rows)\n",
			e.Dir, e.Config.Arch, e.Config.DIn, e.Config.DSAE, e.Final.Step, e.Metrics.FVU, e.Metrics.NMSE, e.Metrics.L0,
			100*e.Metrics.DeadFraction, 100*e.Metrics.DenseFraction, e.Metrics.Tokens)
	}
	fmt.Fprintf(w, "%.1f steps/s; wrote %s\n", float64(trainers[0].Steps()-firstStep)/secs, filepath.Join(f.out, "training.json"))
	return nil
}

// saeEvalDoc is what `sae eval --json` prints.
type saeEvalDoc struct {
	SAE          string `json:"sae"`
	Architecture string `json:"architecture"`
	DIn          int    `json:"d_in"`
	DSAE         int    `json:"d_sae"`
	HookName     string `json:"hook_name"`
	sae.Metrics
	*sae.LossMetrics
	Atoms *sae.AtomMetrics `json:"atoms,omitempty"`
}

func newSAEEvalCmd() *cobra.Command {
	var acts actsFlags
	var mf modelFlags
	var ds datasetFlags
	var saeDir string
	var batch, maxRows int
	var atoms, asJSON bool
	var ridge float64
	cmd := &cobra.Command{
		Use:   "eval --sae DIR (--acts FILE [--hook NAME] | --model DIR (--acts TRACE | --data FILE)) [--atoms] [--json]",
		Short: "Measure an SAE: FVU, L0, dead fraction; with a model, the loss increase when it is spliced in",
		Example: `  neuronscope sae eval --sae sae-topk --acts heldout.safetensors --json
  neuronscope sae eval --sae sae-topk --model testdata/world-llama --data testdata/world/train.txt --max-tokens 20000 --json
  neuronscope sae eval --sae sae-topk --model testdata/world-llama --acts heldout.safetensors --atoms`,
		Long: `Eval measures an SAE (SAELens directory) on activations:

  fvu              Σ‖x − x̂‖² / Σ‖x − x̄‖² (x̄ the mean activation); explained_variance = 1 − fvu
  nmse_openai      mean over tokens of ‖x − x̂‖²/‖x‖² (OpenAI's normalised MSE)
  l0               mean number of active latents per token
  dead_fraction    latents that never fire on these tokens; dense_fraction: fire on > 10%

With --model, the token ids of a 'neuronscope trace' file (--acts) are run through the model
clean, with the SAE spliced in at its hook (its reconstruction replaces the activation) and with
the hook zero-ablated, and it also reports ce_clean, ce_spliced, ce_zero_ablation, ce_increase =
ce_spliced − ce_clean and loss_recovered = (ce_zero − ce_spliced)/(ce_zero − ce_clean); the SAE
metrics then come from the model's activations at the hook. With --model DIR --data FILE the
dataset is cut into --ctx-token contexts as 'neuronscope profile' reads it (--bos, --max-tokens)
and run the same way, --batch contexts per pass; the SAE metrics then leave out each context's
leading BOS positions (the loss metrics cover every position whose next token is real). --atoms adds the atoms paper's
faithfulness R² and stability q* under the whitened inner product (whitening estimated from the
same activations).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if saeDir == "" {
				return usagef("--sae is required")
			}
			if batch < 1 || maxRows < 1 {
				return usagef("--batch %d and --max-rows %d must be ≥ 1", batch, maxRows)
			}
			s, err := sae.Load(saeDir)
			if err != nil {
				return usageError{err}
			}
			doc := saeEvalDoc{SAE: saeDir, Architecture: string(s.Architecture), DIn: s.DIn, DSAE: s.DSAE, HookName: s.HookName}
			var rows *sae.Rows
			if ds.data != "" && mf.dir == "" {
				return usagef("--data needs --model: the checkpoint to stream the dataset through")
			}
			if mf.dir != "" {
				if acts.path == "" && ds.data == "" {
					return usagef("--model needs --data FILE or --acts TRACE: the tokens to run through the model")
				}
				if acts.path != "" && ds.data != "" {
					return usagef("give --acts or --data, not both")
				}
				if acts.dropBOS || acts.hook != "" {
					return usagef("--drop-bos and --hook choose rows of --acts without --model; with --model the SAE reads its own hook at every real token")
				}
				m, err := mf.load(cmd)
				if err != nil {
					return err
				}
				defer m.Close()
				var seqs [][]int
				var leading []int
				if ds.data != "" {
					if _, err := sae.NewSplice(s, m.Catalog(), sae.SpliceOptions{}); err != nil {
						return usageError{err}
					}
					d, err := ds.open(cmd, m, "contexts-per-pass")
					if err != nil {
						return err
					}
					if seqs, leading, _, err = d.sequences(); err != nil {
						return err
					}
					if len(seqs) == 0 {
						return usagef("--data %s: no tokens", ds.data)
					}
				} else if seqs, err = sae.TraceTokens(acts.path); err != nil {
					return usagef("--acts (with --model): %v", err)
				}
				sp, err := sae.NewSplice(s, m.Catalog(), sae.SpliceOptions{})
				if err != nil {
					return usageError{err}
				}
				for i, sq := range seqs {
					for _, id := range sq {
						if id < 0 || id >= m.Config.DVocab {
							return usagef("--acts %s: sequence %d has token %d outside the vocabulary (%d): trace of another model?", acts.path, i, id, m.Config.DVocab)
						}
					}
				}
				mt, lm, err := sae.EvaluateInModelLeading(m, s, seqs, leading, batch, max(m.Config.Pad, 0))
				if err != nil {
					return err
				}
				doc.Metrics, doc.LossMetrics = mt, &lm
				if atoms {
					if rows, err = hookRows(m, []hooks.Point{sp.Point}, seqs, leading, batch, maxRows); err != nil {
						return err
					}
				}
			} else {
				a, err := acts.open()
				if err != nil {
					return err
				}
				defer a.Close()
				if a.Width() != s.DIn {
					return usagef("--acts %s: tensor %s has %d values per row, the SAE's d_in is %d", acts.path, a.Tensor, a.Width(), s.DIn)
				}
				rows = a.Rows
				if rows.Len() > maxRows {
					rows = sae.NewRows(a.Head(maxRows), a.W, a.Name)
				}
				if doc.Metrics, err = sae.Evaluate(s, rows, 0, batch); err != nil {
					return usageError{err}
				}
			}
			if atoms {
				w, err := sae.EstimateWhitening(rows, 0, s.DIn, sae.WhiteningOptions{MaxRows: maxRows, RidgeFraction: ridge})
				if err != nil {
					return err
				}
				am, err := sae.AtomEval(s, rows, 0, w, sae.AtomOptions{MaxRows: maxRows})
				if err != nil {
					return err
				}
				doc.Atoms = &am
			}
			if asJSON {
				return report.WriteJSON(cmd.OutOrStdout(), doc)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%s (%s %d→%d at %s) on %d tokens:\n", saeDir, s.Architecture, s.DIn, s.DSAE, s.HookName, doc.Tokens)
			fmt.Fprintf(out, "  fvu %.5f  explained variance %.5f  nmse (OpenAI) %.5f  mse %.5g\n", doc.FVU, doc.ExplainedVariance, doc.NMSE, doc.MSE)
			fmt.Fprintf(out, "  L0 %.2f  dead %.2f%%  dense (>10%% of tokens) %.2f%%\n", doc.L0, 100*doc.DeadFraction, 100*doc.DenseFraction)
			if lm := doc.LossMetrics; lm != nil {
				fmt.Fprintf(out, "  CE clean %.4f  spliced %.4f (+%.4f)  zero-ablated %.4f  loss recovered %.4f  (%d targets)\n",
					lm.CEClean, lm.CESpliced, lm.CEIncrease, lm.CEZero, lm.LossRecovered, lm.Targets)
			}
			if a := doc.Atoms; a != nil {
				fmt.Fprintf(out, "  atoms: faithfulness R² %.5f (Euclidean %.5f)  stability q* %.5f  (median coherence %.4f, median L0 %.0f)\n",
					a.R2, a.R2Euclidean, a.QStar, a.MedianCoherence, a.MedianL0)
			}
			return nil
		},
	}
	acts.register(cmd)
	mf.register(cmd)
	ds.register(cmd, "contexts-per-pass")
	cmd.Flags().MarkHidden("contexts-per-pass") // eval runs --batch contexts per pass
	cmd.Flags().StringVar(&saeDir, "sae", "", "SAE directory (cfg.json + sae_weights.safetensors)")
	cmd.Flags().IntVar(&batch, "batch", 64, "rows (or, with --model, sequences) per batch")
	cmd.Flags().IntVar(&maxRows, "max-rows", 100000, "evaluate at most this many activation rows (without --model) and whiten from at most this many")
	cmd.Flags().BoolVar(&atoms, "atoms", false, "also the atoms paper's faithfulness R² and stability q*")
	cmd.Flags().Float64Var(&ridge, "whiten-ridge", 1e-6, "--atoms: ridge added to E[x xᵀ] before inverting it, as a fraction of its mean eigenvalue")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// hookRows collects up to maxRows activation rows of real tokens at points (side by side),
// leaving out the first leading[i] tokens of sequence i (leading nil: none).
func hookRows(m *model.Model, points []hooks.Point, seqs [][]int, leading []int, batch, maxRows int) (*sae.Rows, error) {
	prod, err := sae.NewModelProducer(m, points, seqs, batch)
	if err != nil {
		return nil, err
	}
	if leading != nil {
		if err := prod.SetDropLeading(leading); err != nil {
			return nil, err
		}
	}
	w := prod.Width()
	data := make([]float32, maxRows*w)
	n := 0
	for n < maxRows {
		k, err := prod.Produce(data[n*w:])
		n += k
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	return sae.NewRows(data[:n*w], w, points[0].String()), nil
}

func newSAEConvertCmd() *cobra.Command {
	var in, out, dtype, hookName, modelName string
	var index int
	var fold bool
	cmd := &cobra.Command{
		Use:   "convert --in DIR|trainer_state.safetensors --out DIR [--dtype float32|bfloat16|float16] [--fold-decoder-norm]",
		Short: "Rewrite an SAE in SAELens 6 format: from older SAELens configs or a training checkpoint, changing dtype or folding decoder norms",
		Example: `  neuronscope sae convert --in sae-topk --out sae-topk-bf16 --dtype bfloat16
  neuronscope sae convert --in sae-jr/trainer_state.safetensors --out sae-jr-final --fold-decoder-norm`,
		Long: `Convert reads an SAE directory in SAELens's format (any version neuronscope reads) or one SAE
(--index) of a 'sae train' checkpoint (trainer_state.safetensors), and writes it to --out in the
SAELens 6 layout. --dtype stores the weights as float32, bfloat16 or float16; --fold-decoder-norm
rescales every latent so its decoder row has unit norm without changing the SAE's output (SAELens
fold_W_dec_norm; topk only with rescale_acts_by_decoder_norm). --hook-name and --model-name set
or override those cfg.json fields.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if in == "" || out == "" {
				return usagef("--in and --out are required")
			}
			var s *sae.SAE
			if st, err := os.Stat(in); err != nil {
				return usagef("--in: %v", err)
			} else if st.IsDir() {
				if s, err = sae.Load(in); err != nil {
					return usageError{err}
				}
			} else {
				ck, err := sae.ReadCheckpoint(in)
				if err != nil {
					return usageError{err}
				}
				if index < 0 || index >= len(ck.Trainers) {
					return usagef("--index %d: the checkpoint holds %d SAEs", index, len(ck.Trainers))
				}
				s = ck.Trainers[index].SAE("", -1, "")
			}
			if cmd.Flags().Changed("hook-name") {
				s.HookName, s.HookLayer = hookName, -1
				if p, err := hooks.Parse(hookName); err == nil && p.Site.PerLayer() {
					s.HookLayer = p.Layer
				}
			}
			if cmd.Flags().Changed("model-name") {
				s.ModelName = modelName
			}
			if fold {
				if err := s.FoldDecoderNorm(); err != nil {
					return usageError{err}
				}
			}
			if err := s.Save(out, sae.SaveOptions{DType: dtype}); err != nil {
				return usageError{err}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%s %d→%d, %s)\n", out, s.Architecture, s.DIn, s.DSAE, dtype)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&in, "in", "", "SAE directory or trainer_state.safetensors checkpoint")
	f.StringVar(&out, "out", "", "output directory")
	f.StringVar(&dtype, "dtype", "float32", "stored dtype: float32, bfloat16 or float16")
	f.IntVar(&index, "index", 0, "which SAE of a checkpoint holding several")
	f.BoolVar(&fold, "fold-decoder-norm", false, "give every decoder row unit norm (output unchanged)")
	f.StringVar(&hookName, "hook-name", "", "set hook_name")
	f.StringVar(&modelName, "model-name", "", "set model_name")
	return cmd
}
