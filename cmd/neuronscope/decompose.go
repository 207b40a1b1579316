package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/neuronscope/neuronscope/decompose"
	"github.com/neuronscope/neuronscope/model"
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
	acts, data, hook, out string
	layer                 int
	rank                  int
	sparsity              float64
	iters, patience       int
	tol, reg              float64
	init                  string
	seed                  uint64
	kmeansIters           int
	dropBOS               string
	dropFirst             bool
	maxMem                string
	saveG                 bool
	topTokens, window     int
	vocab                 int
	asJSON, noProgress    bool
}

func newSNMFCmd() *cobra.Command {
	var mf modelFlags
	var f snmfFlags
	cmd := &cobra.Command{
		Use:     "snmf --acts FILE [--hook mlp.hook_post] --layer L [--rank 50] [--sparsity 0.01] [--iters 2000] [--patience 1500] [--init random|svd|kmeans] [--seed 42] [--model DIR] --out DIR",
		Short:   "Factorise MLP activations as A ≈ F Gᵀ: sparse mixed-sign neuron groups F, non-negative token coefficients G (Shafran, Geiger & Geva 2025)",
		Example: `  neuronscope decompose snmf --acts acts.safetensors --hook blocks.2.mlp.hook_post --layer 2 --rank 20 --model testdata/world-llama --out snmf`,
		Long: `Snmf runs the published semi-NMF on the activation matrix A [d_mlp, n], one column per token:
F ← A G (GᵀG + 1e-6 I)⁻¹, a hard winner-take-all keeping each feature's ceil(sparsity·d_mlp)
largest |F_ij| (ties kept), G's columns rescaled to unit norm, the Ding multiplicative update of
G ≥ 0, and the best iterate by ‖A − F Gᵀ‖² (absolute tolerance --tol, early stop after --patience
iterations without improvement). See the decompose package documentation for every detail.

Input (--acts FILE, a safetensors file): either one tensor [n, d_mlp] (a row per token), or the
output of 'neuronscope trace', whose [batch, pos, d_mlp] tensor blocks.L.<--hook> is read with its
attention_mask (pads dropped) and input_ids (--drop-bos). A is held in memory as float32 and is
bounded by --max-acts-mem.

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
	fl.StringVar(&f.data, "data", "", "dataset to stream through --model (not available yet: trace it and use --acts)")
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
	fl.StringVar(&f.dropBOS, "drop-bos", "auto", "trace files: drop every token with this id (the published rule); auto: the BOS id of --model, or of the checkpoint named in the trace's provenance; none")
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
	src, tap, layer, filter, err := f.source(cmd, m)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	acts := decompose.NewActivations(0, limit)
	if err := src.AppendTo(ctx, acts); err != nil {
		return decomposeInputError(err)
	}
	if m != nil && acts.DMLP != m.Config.DMLP {
		return usagef("--acts %s: rows have d_mlp %d, --model %s has %d", f.acts, acts.DMLP, m.Dir, m.Config.DMLP)
	}
	if acts.N() == 0 {
		return usagef("--acts %s: no tokens left after dropping %d pads, %d BOS and %d first positions", f.acts, acts.DroppedPad, acts.DroppedBOS, acts.DroppedFirst)
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

// source picks the activation source. The --model --data path (activations streamed from a
// model over a dataset, through decompose.Activations.AppendBatch) plugs in here once the
// corpus package lands.
func (f *snmfFlags) source(cmd *cobra.Command, m *model.Model) (decompose.Source, string, int, decompose.TokenFilter, error) {
	filter := decompose.NoFilter
	switch {
	case f.data != "" && f.acts != "":
		return nil, "", 0, filter, usagef("give --acts or --data, not both")
	case f.data != "":
		return nil, "", 0, filter, usagef("--data: streaming activations from --model over a dataset is not available yet; run 'neuronscope trace --model DIR --jsonl FILE --hooks blocks.L.%s --out acts.safetensors' and pass --acts acts.safetensors", f.hook)
	case f.acts == "":
		return nil, "", 0, filter, usagef("--acts FILE is required")
	}
	if _, err := os.Stat(f.acts); err != nil {
		return nil, "", 0, filter, usagef("--acts: %v", err)
	}
	if f.layer < -1 {
		return nil, "", 0, filter, usagef("--layer %d: must be ≥ 0", f.layer)
	}
	if f.layer < 0 && !strings.HasPrefix(f.hook, "blocks.") {
		return nil, "", 0, filter, usagef("--layer is required (or give a full hook name to --hook, e.g. blocks.6.mlp.hook_post)")
	}
	tap, err := decompose.HookName(f.layer, f.hook)
	if err != nil {
		return nil, "", 0, filter, usagef("--hook/--layer: %v", err)
	}
	layer := f.layer
	if layer < 0 {
		fmt.Sscanf(tap, "blocks.%d.", &layer)
	}
	if m != nil && layer >= m.Config.NLayers {
		return nil, "", 0, filter, usagef("--layer %d is out of range: %s has layers 0..%d", layer, m.Dir, m.Config.NLayers-1)
	}
	filter.DropFirst = f.dropFirst
	switch f.dropBOS {
	case "none":
	case "auto":
		filter.BOS = f.autoBOS(cmd, m)
	default:
		id, err := strconv.Atoi(f.dropBOS)
		if err != nil || id < 0 {
			return nil, "", 0, filter, usagef("--drop-bos %q: want auto, none or a token id", f.dropBOS)
		}
		filter.BOS = id
	}
	return decompose.FileSource{Path: f.acts, Tensor: tap, RowsFallback: true, Filter: filter}, tap, layer, filter, nil
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
