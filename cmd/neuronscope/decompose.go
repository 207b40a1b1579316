package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/neuronscope/neuronscope/decompose"
	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/report"
	"github.com/neuronscope/neuronscope/model/safetensors"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
)

func init() { extraCommands = append(extraCommands, newDecomposeCmd) }

func newDecomposeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "decompose",
		Short: "Decompose MLP activations into features (semi-NMF)",
		Example: `  neuronscope trace --model testdata/world-llama --jsonl prompts.jsonl --hooks blocks.2.mlp.hook_post --out acts.safetensors
  neuronscope decompose snmf --acts acts.safetensors --layer 2 --rank 20 --out snmf`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newSNMFCmd())
	return cmd
}

// snmfFlags are the flags of decompose snmf.
type snmfFlags struct {
	acts, hook, out    string
	layer              int
	rank               int
	sparsity           float64
	iters, patience    int
	tol, reg           float64
	init               string
	seed               uint64
	kmeansIters        int
	dropBOS            string
	dropFirst          bool
	maxMem             string
	saveG              bool
	topTokens, window  int
	vocab              int
	asJSON, noProgress bool
	ds                 datasetFlags // streaming from --model over --data
}

func newSNMFCmd() *cobra.Command {
	var mf modelFlags
	var f snmfFlags
	cmd := &cobra.Command{
		Use:   "snmf (--model DIR --data FILE | --acts FILE) --layer L [--hook mlp.hook_post] [--rank 50] [--sparsity 0.01] [--iters 2000] [--patience 1500] [--init random|svd|kmeans] [--seed 42] --out DIR",
		Short: "Factorise MLP activations as A ≈ F Gᵀ: sparse mixed-sign neuron groups F, non-negative token coefficients G (Shafran, Geiger & Geva 2025)",
		Example: `  neuronscope decompose snmf --model testdata/world-llama --data testdata/world/train.txt --layer 2 --rank 20 --out snmf
  neuronscope decompose snmf --acts acts.safetensors --hook blocks.2.mlp.hook_post --layer 2 --rank 20 --model testdata/world-llama --out snmf`,
		Long: `Snmf runs the published semi-NMF on the activation matrix A [d_mlp, n], one column per token:
F ← A G (GᵀG + 1e-6 I)⁻¹, a hard winner-take-all keeping each feature's ceil(sparsity·d_mlp)
largest |F_ij| (ties kept), G's columns rescaled to unit norm, the Ding multiplicative update of
G ≥ 0, and the best iterate by ‖A − F Gᵀ‖² (absolute tolerance --tol, early stop after --patience
iterations without improvement). See the decompose package documentation for every detail.

Input: --model DIR --data FILE streams the model over a dataset (.txt, a document per line, or
.jsonl, as 'neuronscope profile' reads it: documents cut into --ctx-token contexts that never span
documents, tokenized under --bos, --batch contexts per forward pass, at most --max-tokens tokens)
and keeps blocks.L.<--hook> of every real token except BOS tokens (--drop-bos auto: the model's
BOS id, also the BOS re-inserted at the start of continuation contexts; pads never count). Or
--acts FILE, a safetensors file: either one tensor [n, d_mlp] (a row per token), or the output of
'neuronscope trace', whose [batch, pos, d_mlp] tensor blocks.L.<--hook> is read with its
attention_mask (pads dropped) and input_ids (--drop-bos). A is held in memory as float32 and is
bounded by --max-acts-mem: a dataset whose tokens would exceed it is refused before the model
runs.

With --model DIR (the checkpoint the activations came from), the report adds each feature's
vocabulary projection unembed(ln_final(W_out z)) for z = ±F_j/‖F_j‖ and token text.

Output (--out DIR): features.safetensors (F [d_mlp, rank] as "F"; G [n, rank] as "G" with
--save-g), features.json (neuronscope.features/v1: settings, loss curve, per feature its neurons
with signs, top tokens with contexts, vocabulary projection, provenance) and neurons.json (the
features' neurons as a neuronscope.neurons/v1 set, one group per feature).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSNMF(cmd, &mf, &f)
		},
	}
	mf.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.acts, "acts", "", "activations: a safetensors file with one [n, d_mlp] tensor, or 'neuronscope trace' output")
	f.ds.register(cmd, "batch")
	fl.StringVar(&f.hook, "hook", "mlp.hook_post", "hook site in the trace file (with --layer), or a full hook name")
	fl.IntVar(&f.layer, "layer", -1, "layer of the activations (selects blocks.L.<hook> in a trace; needed for the vocabulary projection)")
	fl.IntVar(&f.rank, "rank", decompose.DefaultRank, "number of features (the run scripts' 50; train.py's default is 100)")
	fl.Float64Var(&f.sparsity, "sparsity", decompose.DefaultSparsity, "fraction of neurons each feature keeps, in (0, 1]")
	fl.IntVar(&f.iters, "iters", decompose.DefaultMaxIter, "maximum iterations (the run scripts' 2000; train.py's default is 200000)")
	fl.IntVar(&f.patience, "patience", decompose.DefaultPatience, "stop after this many iterations without improving the best loss by more than --tol")
	fl.Float64Var(&f.tol, "tol", decompose.DefaultTol, "absolute loss improvement that counts")
	fl.Float64Var(&f.reg, "reg", decompose.DefaultReg, "ridge added to GᵀG in the F step")
	fl.StringVar(&f.init, "init", "random", "initial G: random (torch.rand after torch.manual_seed(--seed)), svd, kmeans")
	fl.Uint64Var(&f.seed, "seed", decompose.DefaultSeed, "seed of the random and k-means inits")
	fl.IntVar(&f.kmeansIters, "kmeans-iters", decompose.DefaultKMeansIters, "Lloyd iterations of --init kmeans")
	fl.StringVar(&f.dropBOS, "drop-bos", "auto", "drop every token with this id (the published rule); auto: the BOS id of --model, or of the checkpoint named in a trace's provenance; none")
	fl.BoolVar(&f.dropFirst, "drop-first", false, "trace files: also drop the first real token of every sequence")
	fl.StringVar(&f.maxMem, "max-acts-mem", "4GiB", "refuse activations whose float32 matrix A exceeds this (e.g. 512MiB, 8GiB)")
	fl.BoolVar(&f.saveG, "save-g", false, "also write G [n, rank] to features.safetensors")
	fl.IntVar(&f.topTokens, "top-tokens", 25, "top tokens by G listed per feature")
	fl.IntVar(&f.window, "window", 15, "context tokens on each side of a top token")
	fl.IntVar(&f.vocab, "vocab", 75, "vocabulary tokens per projection list (with --model)")
	fl.BoolVar(&f.asJSON, "json", false, "print a JSON summary instead of text")
	fl.BoolVar(&f.noProgress, "no-progress", false, "no progress bar")
	fl.StringVar(&f.out, "out", "", "output directory")
	return cmd
}

// snmfSummary is what --json prints.
type snmfSummary struct {
	Out           string                `json:"out"`
	Files         []string              `json:"files"`
	Tap           string                `json:"tap"`
	Tokens        int                   `json:"n_tokens"`
	DMLP          int                   `json:"d_mlp"`
	Rank          int                   `json:"rank"`
	Iterations    int                   `json:"iterations"`
	BestIteration int                   `json:"best_iteration"`
	BestLoss      float64               `json:"best_loss"`
	RelativeLoss  float64               `json:"relative_loss"`
	Stop          decompose.StopReason  `json:"stop"`
	Dropped       decompose.DroppedRows `json:"dropped"`
	Seconds       float64               `json:"seconds"`
}

func runSNMF(cmd *cobra.Command, mf *modelFlags, f *snmfFlags) error {
	opt, err := f.options()
	if err != nil {
		return err
	}
	if f.out == "" {
		return usagef("--out is required")
	}
	if st, err := os.Stat(f.out); err == nil && !st.IsDir() {
		return usagef("--out %s is a file, not a directory", f.out)
	}
	limit, err := parseBytes(f.maxMem)
	if err != nil {
		return usagef("--max-acts-mem: %v", err)
	}
	var m *model.Model
	if mf.dir != "" {
		if m, err = mf.load(cmd); err != nil {
			return err
		}
		defer m.Close()
	}
	src, tap, layer, filter, err := f.source(cmd, m, limit)
	if err != nil {
		return err
	}
	input := "--acts " + f.acts
	if f.ds.data != "" {
		input = "--data " + f.ds.data
	}
	ctx, stop := interruptible(cmd)
	defer stop()
	start := time.Now()
	acts := decompose.NewActivations(0, limit)
	if err := src.AppendTo(ctx, acts); err != nil {
		if f.ds.data != "" {
			return streamInputError(err)
		}
		return decomposeInputError(err)
	}
	if m != nil && acts.DMLP != m.Config.DMLP && strings.HasSuffix(tap, hooks.MLPPost.String()) {
		return usagef("%s: rows have d_mlp %d, --model %s has %d", input, acts.DMLP, m.Dir, m.Config.DMLP)
	}
	if acts.N() == 0 {
		return usagef("%s: no tokens left after dropping %d pads, %d BOS and %d first positions", input, acts.DroppedPad, acts.DroppedBOS, acts.DroppedFirst)
	}
	var bar *progressbar.ProgressBar
	if !f.noProgress {
		bar = progressbar.NewOptions(opt.MaxIter, progressbar.OptionSetWriter(cmd.ErrOrStderr()),
			progressbar.OptionSetDescription("snmf"), progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(200*time.Millisecond))
		opt.Progress = func(p decompose.Progress) {
			bar.Describe(fmt.Sprintf("snmf  loss %.6g  best %.6g (it %d, %d since)", p.Loss, p.Best, p.BestIter, p.SinceBest))
			bar.Set(p.Iter)
		}
	}
	res, err := decompose.SNMF(ctx, acts, opt)
	if bar != nil {
		bar.Finish()
		fmt.Fprintln(cmd.ErrOrStderr())
	}
	if err != nil {
		return decomposeInputError(err)
	}
	ro := decompose.DefaultReportOptions()
	ro.Tap, ro.Layer, ro.Source, ro.Filter = tap, layer, src.Describe(), filter
	ro.TopTokens, ro.Window, ro.VocabK = f.topTokens, f.window, f.vocab
	ro.Provenance = decompose.NewProvenance()
	if m != nil {
		ro.Model = m
		ro.Provenance = m.Provenance()
		if _, err := os.Stat(filepath.Join(m.Dir, "tokenizer.json")); err == nil {
			tok, err := loadTokenizer(m)
			if err != nil {
				return err
			}
			ro.Decode = func(ids []int) string {
				s, _ := tok.Decode(ids, false)
				return s
			}
		}
	}
	seed := int64(f.seed)
	ro.Provenance.Seed, ro.Provenance.Dataset, ro.Provenance.HooksAsked = &seed, src.Describe(), []string{tap}
	ro.Provenance.BOSPolicy = fmt.Sprintf("drop id %d; drop first position %v", filter.BOS, filter.DropFirst)
	rep, err := decompose.NewReport(res, acts, opt, ro)
	if err != nil {
		return err
	}
	o := &decompose.Output{Report: rep, F: res.F}
	if f.saveG {
		o.G = res.G
	}
	if err := decompose.Write(f.out, o); err != nil {
		return err
	}
	sum := snmfSummary{Out: f.out, Files: []string{decompose.FactorsFile, decompose.ReportFile, decompose.NeuronsFile},
		Tap: tap, Tokens: res.N, DMLP: res.DMLP, Rank: res.Rank, Iterations: res.Iters, BestIteration: res.BestIter,
		BestLoss: res.BestLoss, RelativeLoss: res.BestLoss / res.SumSquares, Stop: res.Stop, Dropped: rep.Dropped,
		Seconds: time.Since(start).Seconds()}
	if f.asJSON {
		return report.WriteJSON(cmd.OutOrStdout(), sum)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "snmf: %d tokens × d_mlp %d from %s, rank %d, %d neurons kept per feature\n",
		res.N, res.DMLP, src.Describe(), res.Rank, res.Kept)
	fmt.Fprintf(cmd.OutOrStdout(), "%d iterations (%s); best at %d: ‖A − F Gᵀ‖² = %.6g (%.4f of ‖A‖²)\n",
		res.Iters, res.Stop, res.BestIter+1, res.BestLoss, res.BestLoss/res.SumSquares)
	fmt.Fprintf(cmd.OutOrStdout(), "wrote %s/{%s,%s,%s}\n", f.out, decompose.FactorsFile, decompose.ReportFile, decompose.NeuronsFile)
	return nil
}

// options checks the fit flags that need no data.
func (f *snmfFlags) options() (decompose.Options, error) {
	opt := decompose.DefaultOptions()
	init, err := decompose.ParseInit(f.init)
	if err != nil {
		return opt, usagef("--init: %v", err)
	}
	opt.Rank, opt.Sparsity, opt.MaxIter, opt.Patience = f.rank, f.sparsity, f.iters, f.patience
	opt.Tol, opt.Reg, opt.Init, opt.Seed, opt.KMeansIters = f.tol, f.reg, init, f.seed, f.kmeansIters
	switch {
	case f.rank < 1:
		return opt, usagef("--rank %d: must be ≥ 1", f.rank)
	case !(f.sparsity > 0 && f.sparsity <= 1):
		return opt, usagef("--sparsity %v: must be in (0, 1]", f.sparsity)
	case f.iters < 1:
		return opt, usagef("--iters %d: must be ≥ 1", f.iters)
	case f.patience < 1:
		return opt, usagef("--patience %d: must be ≥ 1", f.patience)
	case !(f.tol >= 0):
		return opt, usagef("--tol %v: must be ≥ 0", f.tol)
	case !(f.reg >= 0):
		return opt, usagef("--reg %v: must be ≥ 0", f.reg)
	case f.kmeansIters < 1:
		return opt, usagef("--kmeans-iters %d: must be ≥ 1", f.kmeansIters)
	case f.topTokens < 0 || f.window < 0 || f.vocab < 1:
		return opt, usagef("--top-tokens, --window must be ≥ 0 and --vocab ≥ 1")
	}
	return opt, nil
}

// source picks the activation source: a model streamed over a dataset (--model --data), or a
// file (--acts). It checks everything that needs no forward pass: the flags, the hook point, the
// layer, and — for a dataset — that its tokens fit under the memory bound.
func (f *snmfFlags) source(cmd *cobra.Command, m *model.Model, limit int64) (decompose.Source, string, int, decompose.TokenFilter, error) {
	filter := decompose.NoFilter
	fail := func(err error) (decompose.Source, string, int, decompose.TokenFilter, error) {
		return nil, "", 0, filter, err
	}
	switch {
	case f.ds.data != "" && f.acts != "":
		return fail(usagef("give --acts or --data, not both"))
	case f.ds.data != "" && m == nil:
		return fail(usagef("--data needs --model: the checkpoint to stream the dataset through"))
	case f.ds.data == "" && f.acts == "":
		return fail(usagef("give --model DIR --data FILE (stream a dataset through the model) or --acts FILE (activations)"))
	}
	input := "--acts"
	if f.ds.data != "" {
		input = "--data"
	}
	if _, err := os.Stat(f.input()); err != nil {
		return fail(usagef("%s: %v", input, err))
	}
	if f.layer < -1 {
		return fail(usagef("--layer %d: must be ≥ 0", f.layer))
	}
	if f.layer < 0 && !strings.HasPrefix(f.hook, "blocks.") {
		return fail(usagef("--layer is required (or give a full hook name to --hook, e.g. blocks.6.mlp.hook_post)"))
	}
	if m != nil && f.layer >= m.Config.NLayers {
		return fail(usagef("--layer %d is out of range: %s has layers 0..%d", f.layer, m.Dir, m.Config.NLayers-1))
	}
	tap, err := decompose.HookName(f.layer, f.hook)
	if err != nil {
		return fail(usagef("--hook/--layer: %v", err))
	}
	layer := f.layer
	if layer < 0 {
		fmt.Sscanf(tap, "blocks.%d.", &layer)
	}
	if m != nil && layer >= m.Config.NLayers {
		return fail(usagef("--layer %d is out of range: %s has layers 0..%d", layer, m.Dir, m.Config.NLayers-1))
	}
	filter.DropFirst = f.dropFirst
	switch f.dropBOS {
	case "none":
	case "auto":
		filter.BOS = f.autoBOS(cmd, m)
	default:
		id, err := strconv.Atoi(f.dropBOS)
		if err != nil || id < 0 {
			return fail(usagef("--drop-bos %q: want auto, none or a token id", f.dropBOS))
		}
		filter.BOS = id
	}
	if f.ds.data == "" {
		return decompose.FileSource{Path: f.acts, Tensor: tap, RowsFallback: true, Filter: filter}, tap, layer, filter, nil
	}
	src, err := f.stream(cmd, m, tap, filter, limit)
	if err != nil {
		return fail(err)
	}
	return src, tap, layer, filter, nil
}

// input is the --data or --acts path.
func (f *snmfFlags) input() string {
	if f.ds.data != "" {
		return f.ds.data
	}
	return f.acts
}

// stream builds the --model --data source: the contexts of the dataset, the hook point, and a
// progress bar over its tokens. The dataset is tokenized once first, to count its rows and
// refuse it before the model runs when A would exceed limit, or when no token is left after
// dropping pads and BOS.
func (f *snmfFlags) stream(cmd *cobra.Command, m *model.Model, tap string, filter decompose.TokenFilter, limit int64) (decompose.Source, error) {
	ds, err := f.ds.open(cmd, m, "batch")
	if err != nil {
		return nil, err
	}
	p, err := unitsPoint(m, tap)
	if err != nil {
		return nil, err
	}
	contexts := ds.contexts
	// Count the rows A will have: real tokens, less BOS tokens (by id) or first positions.
	var tokens, rows, nctx int64
	err = contexts(func(c corpus.Context) error {
		nctx++
		tokens += int64(len(c.IDs))
		for i, id := range c.IDs {
			if (filter.DropFirst && i == 0) || (filter.BOS >= 0 && id == filter.BOS) {
				continue
			}
			rows++
		}
		return nil
	})
	if err != nil {
		return nil, inputError(err)
	}
	width := m.Catalog().Width(p)
	if rows == 0 {
		return nil, usagef("--data %s: no tokens left after dropping pads and BOS (%d tokens in %d contexts)", f.ds.data, tokens, nctx)
	}
	if need := rows * int64(width) * 4; need > limit {
		return nil, usagef("--data %s: %d tokens × %d units at %s need %s of float32 activations, more than --max-acts-mem %s; use --max-tokens %d or raise --max-acts-mem",
			f.ds.data, rows, width, tap, humanSize(need), humanSize(limit), limit/int64(width)/4)
	}
	src := decompose.ModelSource{Model: m, Point: p, Contexts: contexts, Batch: f.ds.perPass, Filter: filter,
		Data: fmt.Sprintf("%s: %d tokens in %d contexts, %d rows", ds.desc, tokens, nctx, rows)}
	if !f.noProgress {
		bar := newBar(cmd, tokens, "reading activations", "tok")
		src.AfterBatch = func(n int64) { _ = bar.Add64(n) }
	}
	return src, nil
}

// humanSize prints a byte count in GiB or MiB.
func humanSize(b int64) string {
	if b >= 1<<30 {
		return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30))
	}
	return fmt.Sprintf("%.2f MiB", float64(b)/(1<<20))
}

// autoBOS is --model's BOS id, else that of the checkpoint the trace's provenance names, else
// -1 (with a warning when the file is a trace).
func (f *snmfFlags) autoBOS(cmd *cobra.Command, m *model.Model) int {
	if m != nil {
		return m.Config.BOS
	}
	sf, err := safetensors.OpenFile(f.acts)
	if err != nil {
		return -1 // the reader reports it
	}
	defer sf.Close()
	if _, ok := sf.Tensor("input_ids"); !ok {
		return -1 // a rows file: nothing to drop
	}
	var prov decompose.Provenance
	if err := json.Unmarshal([]byte(sf.Metadata()["neuronscope"]), &prov); err == nil && prov.ModelDir != "" {
		if data, err := os.ReadFile(filepath.Join(prov.ModelDir, "config.json")); err == nil {
			if c, err := model.ParseConfig(data, filepath.Join(prov.ModelDir, "config.json")); err == nil {
				return c.BOS
			}
		}
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "warning: --drop-bos auto: no BOS id known for %s (give --model, --drop-bos ID or --drop-first); keeping every real token\n", f.acts)
	return -1
}

// decomposeInputError turns the decompose package's input errors into usage errors (exit code 2) that
// name the flag.
func decomposeInputError(err error) error {
	var oe *decompose.OptionError
	var le *decompose.LimitError
	switch {
	case errors.As(err, &oe):
		name := map[string]string{"acts": "--acts"}[oe.Option]
		if name == "" {
			name = "--" + oe.Option
		}
		return usagef("%s: %s", name, oe.Reason)
	case errors.As(err, &le):
		return usagef("--max-acts-mem: %v", err)
	case errors.Is(err, context.Canceled):
		return err
	}
	// Reading errors name the file already.
	return usagef("--acts: %v", err)
}

// streamInputError reports a failed --model --data pass: a data problem or the memory bound
// as a usage error naming the flag; anything else (the model failing) as it is.
func streamInputError(err error) error {
	var le *decompose.LimitError
	var ie *corpus.InputError
	switch {
	case errors.As(err, &le):
		return usagef("--max-acts-mem: %v", le)
	case errors.As(err, &ie):
		return usageError{err}
	}
	return err
}

// parseBytes reads sizes like 4GiB, 512MiB, 2GB or a plain byte count.
func parseBytes(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   float64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}}
	t := strings.TrimSpace(s)
	mult := 1.0
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || !(v > 0) || v*mult > 1<<62 {
		return 0, fmt.Errorf("%q is not a size like 4GiB or 512MiB", s)
	}
	return int64(v * mult), nil
}
