package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/report"
	"github.com/neuronscope/neuronscope/model/tokenizer"
	"github.com/neuronscope/neuronscope/probes/profile"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
)

func init() { extraCommands = append(extraCommands, newProfileCmd) }

// profileFlags are the flags of the profile command.
type profileFlags struct {
	data       string
	hooks      []string
	ctx        int
	batch      int
	top        int
	quantiles  string
	random     int
	histBins   int
	before     int
	after      int
	calib      int
	seed       uint64
	maxTokens  int64
	resume     bool
	out        string
	bos        string
	every      int
	lmHead     int
	dla        int
	modelID    string
	stopAfter  int // hidden: simulate a kill after this many batches of this invocation
	noProgress bool
	fwdOnly    bool // hidden: run the same batches through the plain forward only (overhead baseline)
	includeBOS bool
	beam       beamFlags
	img        imageFlags
	units      unitFlags
}

const checkpointName = "state.ckpt"

func newProfileCmd() *cobra.Command {
	var mf modelFlags
	var f profileFlags
	cmd := &cobra.Command{
		Use:   "profile --model DIR --data FILE.jsonl|FILE.txt [--hooks 'blocks.*.mlp.hook_post'] [--ctx 64] [--top 20] [--quantiles 5x5] [--max-tokens N] [--resume] --out DIR",
		Short: "Profile every neuron over a dataset: statistics, top-k max/min contexts, quantile samples; NeuronRecord and Neuronpedia exports",
		Long: `Profile streams a dataset through the model in batches of fixed-length contexts and keeps, for
every neuron of the chosen hook points, streaming statistics (count, mean, variance, skewness,
kurtosis, fraction > 0 and ≠ 0, max, min, a histogram), the top-k maximum and minimum activating
contexts, and reservoir samples per quantile bin of the per-context maximum.

Data: .txt has one document per non-blank line; .jsonl has one document per line, a JSON string,
an object with "text" (and optionally "id"), an object with "ids"/"input_ids", or an array of
token ids. Text is tokenized with the model's tokenizer.json under --bos; documents are cut into
contexts of --ctx tokens that never span documents; continuation contexts of a document that
began with BOS start with BOS again; a document's last context may be shorter (padded, and pads
are not counted). BOS positions are left out of every statistic and example list (an example's
window still shows them) unless --include-bos; the choice is recorded in the settings and the
provenance, and profile.json counts the positions left out.

Per mlp.hook_post neuron, --lm-head K attaches the LM-head decoding of its raw write direction
(W_U·w) and --dla K its direct logit attribution per unit activation through the final norm
weight (W_U·(γ ⊙ P w), as attribute.DirectLogit up to the position's 1/ln_final.hook_scale).

Output (--out DIR): profile.json (schema_version, provenance), neuron_records/HOOK.jsonl
(OpenAI NeuronRecord), neuronpedia/batch-I.json (Neuronpedia features) and state.ckpt (the
checkpoint, written every --checkpoint-every batches and on Ctrl-C; --resume continues from it
and gives the same output as an uninterrupted run).

An image classifier (ViT) is profiled over images instead of --data: --images FILE.jsonl
({"image": path, ...} a line) or --image FILE (repeatable). Each image is one context whose
positions are its tokens, [CLS] then the patches in raster order (token "id" k names position
k); every token is counted. Example lists name images by their ordinal in the list.

Features and latents are profiled like neurons: --features DIR (a 'decompose snmf' output)
profiles its SNMF features as the units blocks.L.mlp.hook_post.snmf, a feature's activation on a
token being its coefficient in the exact non-negative least-squares fit of the token's
activation vector by F (F fixed; the problem SNMF's G update approximates, with a unique answer
and no iteration count); --sae DIR profiles the SAE's latents as <hook>.sae.hook_sae_acts_post
(SAELens's name), its encoder run at its hook. Given either, only those units are profiled unless
--hooks is also given. They get the same statistics, examples, dashboard pages ('report') and
NeuronRecord / Neuronpedia exports (the source names the unit hook), without vocabulary lists.`,
		Example: `  neuronscope profile --model testdata/world-llama --data testdata/world/train.txt --out profile-world
  neuronscope profile --model testdata/world-llama --data testdata/world/train.txt --features snmf --sae sae-topk --out profile-units
  neuronscope profile --model DIR --data corpus.jsonl --ctx 128 --max-tokens 1000000 --resume --out profile-run
  neuronscope profile --model testdata/world-llama --data testdata/world/train.txt --include-bos --out profile-with-bos
  neuronscope profile --model vit-dir --images val.jsonl --batch 16 --out profile-vit`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runProfile(cmd, &mf, &f)
		},
	}
	mf.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.data, "data", "", "dataset: FILE.txt (a document per line) or FILE.jsonl")
	fl.StringArrayVar(&f.hooks, "hooks", []string{"blocks.*.mlp.hook_post"}, "hook points to profile (names, HF aliases or globs, comma-separated)")
	fl.IntVar(&f.ctx, "ctx", 64, "context length in tokens")
	fl.IntVar(&f.batch, "batch", 8, "contexts per forward pass")
	fl.IntVar(&f.top, "top", 20, "top-k maximum and minimum contexts kept per neuron")
	fl.StringVar(&f.quantiles, "quantiles", "5x5", "quantile bins × samples per bin (BINSxSAMPLES)")
	fl.IntVar(&f.random, "random", 20, "uniformly random contexts kept per neuron")
	fl.IntVar(&f.histBins, "hist-bins", 32, "histogram bins")
	fl.IntVar(&f.before, "window-before", 15, "tokens kept before the max token of an example")
	fl.IntVar(&f.after, "window-after", 4, "tokens kept after the max token of an example")
	fl.IntVar(&f.calib, "calib", 256, "contexts whose per-context maxima fix each neuron's quantile boundaries")
	fl.Uint64Var(&f.seed, "seed", 0, "seed of the reservoir samples")
	fl.Int64Var(&f.maxTokens, "max-tokens", 0, "stop after this many tokens (0: the whole dataset)")
	fl.BoolVar(&f.resume, "resume", false, "continue from DIR/state.ckpt")
	fl.StringVar(&f.out, "out", "", "output directory")
	fl.StringVar(&f.bos, "bos", "auto", "BOS policy for text documents: auto (as HF's add_special_tokens), always, never")
	fl.BoolVar(&f.includeBOS, "include-bos", false, "count the BOS positions in every statistic and example list (by default they are left out)")
	fl.IntVar(&f.every, "checkpoint-every", 50, "write the checkpoint every N batches")
	fl.IntVar(&f.lmHead, "lm-head", 10, "attach each hook_post neuron's top/bottom K tokens of the LM-head decoding of its raw write direction, W_U·w (0: off)")
	fl.IntVar(&f.dla, "dla", -1, "attach each hook_post neuron's top/bottom K direct-logit-attribution tokens per unit activation, W_U·(γ ⊙ P w) through the final norm weight (and Gemma 2/3's post-feed-forward norm weight) (0: off; -1: as --lm-head)")
	fl.StringVar(&f.modelID, "model-id", "", "modelId of the Neuronpedia export (default: the model directory's name)")
	fl.BoolVar(&f.noProgress, "no-progress", false, "no progress bar")
	fl.IntVar(&f.stopAfter, "stop-after-batches", 0, "testing: stop after N batches without a final checkpoint, as if killed")
	_ = fl.MarkHidden("stop-after-batches")
	fl.BoolVar(&f.fwdOnly, "forward-only", false, "benchmarking: run the same batches through the plain forward without profiling, print tokens/s, write nothing")
	_ = fl.MarkHidden("forward-only")
	f.beam.register(cmd)
	f.img.register(cmd, true)
	f.units.register(cmd, "also profile")
	return cmd
}

func parseQuantiles(s string) (bins, per int, err error) {
	a, b, ok := strings.Cut(strings.ToLower(s), "x")
	if ok {
		bins, err = strconv.Atoi(a)
		if err == nil {
			per, err = strconv.Atoi(b)
		}
	}
	if !ok || err != nil || bins < 1 || per < 1 {
		return 0, 0, usagef("--quantiles %q: want BINSxSAMPLES, e.g. 5x5", s)
	}
	return bins, per, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", usagef("--data: %v", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func runProfile(cmd *cobra.Command, mf *modelFlags, f *profileFlags) (rerr error) {
	if f.img.given() {
		if f.units.any() {
			return usagef("--features and --sae profile text datasets (--data), not images")
		}
		return runProfileImages(cmd, mf, f)
	}
	mf.text = "profile --data"
	if f.data == "" || f.out == "" {
		return usagef("--data and --out are required")
	}
	if f.beam.runner != "" {
		if f.units.any() {
			return usagef("--features and --sae run locally, not with --runner")
		}
		return runProfileBeam(cmd, mf, f)
	}
	if !corpus.IsDataFile(f.data) {
		return usagef("--data %s: must end in .jsonl or .txt", f.data)
	}
	if err := checkRanges(intAtLeast("--checkpoint-every", f.every, 1)); err != nil {
		return err
	}
	if err := checkOutDir("--out", f.out); err != nil {
		return err
	}
	sum, err := fileSHA256(f.data)
	if err != nil {
		return err
	}
	s, err := setupProfile(cmd, mf, f, sum)
	if err != nil {
		return err
	}
	m, points, tok, enc, opt, set := s.m, s.points, s.tok, s.enc, s.opt, s.set
	defer m.Close()
	units, unitDesc, err := f.units.profileUnits(m)
	if err != nil {
		return err
	}
	if len(units) > 0 && !cmd.Flags().Changed("hooks") {
		points, s.points = nil, nil // only the features/latents, unless --hooks asks for neurons too
	}
	set.Units = unitDesc
	fp := profile.Fingerprint(set, points, m.Config.Hash)

	ckpt := filepath.Join(f.out, checkpointName)
	var p *profile.Profiler
	if f.resume && fileExists(ckpt) {
		if p, err = profile.Load(ckpt, fp); err != nil {
			return usagef("--resume: %v", err)
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "resuming after %d batches (%d tokens)\n", p.Batches, p.Tokens)
	} else {
		if f.resume {
			fmt.Fprintf(cmd.ErrOrStderr(), "--resume: no %s yet; starting from the beginning\n", ckpt)
		}
		p = profile.New(opt)
	}

	copt := corpus.ContextOptions{Ctx: f.ctx, MaxTokens: f.maxTokens}
	contexts := func(yield func(corpus.Context) error) error {
		return corpus.Contexts(corpus.FileDocuments(f.data), enc, copt, yield)
	}
	total, _, err := corpus.CountTokens(corpus.FileDocuments(f.data), enc, copt)
	if err != nil {
		return inputError(err)
	}
	if total == 0 {
		return usagef("--data %s has no tokens", f.data)
	}
	// The data is readable and tokenizes: only now does the output directory appear, and a
	// run that fails before writing into it removes it again.
	cleanup, err := makeOutDir(f.out)
	if err != nil {
		return err
	}
	defer func() {
		if rerr != nil {
			cleanup()
		}
	}()

	var bar *progressbar.ProgressBar
	if !f.noProgress {
		bar = newBar(cmd, total, "profiling", "tok")
		_ = bar.Set64(p.Tokens)
	}

	ctx, stop := interruptible(cmd)
	defer stop()

	padID := max(m.Config.Pad, 0)
	t0 := time.Now()
	if f.fwdOnly {
		return forwardOnly(cmd, m, contexts, corpus.RunOptions{Batch: f.batch, PadID: padID, Skip: p.Contexts}, bar)
	}

	// Periodic checkpoints are encoded in memory at the end of their batch and written to disk
	// while the next batches run (SaveAsync); at most one write is in flight, and every path
	// out of this function waits for it, so a resumed run always finds a complete checkpoint.
	var pendingSave func() error
	waitSave := func() error {
		if pendingSave == nil {
			return nil
		}
		err := pendingSave()
		pendingSave = nil
		return err
	}
	defer waitSave()
	saveAsync := func() error {
		if err := waitSave(); err != nil {
			return err
		}
		pendingSave = p.SaveAsync(ckpt, fp)
		return nil
	}
	startTokens, runBatches := p.Tokens, 0
	interrupted := false
	err = p.Run(m, points, contexts, profile.RunOptions{Batch: f.batch, PadID: padID, Units: units, AfterBatch: func(p *profile.Profiler) error {
		if bar != nil {
			_ = bar.Set64(p.Tokens)
		}
		runBatches++
		if f.stopAfter > 0 && runBatches >= f.stopAfter {
			return errKilled
		}
		if profileAfterBatch != nil {
			profileAfterBatch(ctx, p.Batches)
		}
		if ctx.Err() != nil {
			interrupted = true
			return errKilled
		}
		if p.Batches%int64(f.every) == 0 {
			return saveAsync()
		}
		return nil
	}})
	if werr := waitSave(); err == nil {
		err = werr
	}
	if errors.Is(err, errKilled) {
		if interrupted {
			if serr := p.Save(ckpt, fp); serr != nil {
				return serr
			}
			return fmt.Errorf("interrupted after %d tokens; the state is in %s, continue with --resume", p.Tokens, ckpt)
		}
		return fmt.Errorf("stopped after %d batches (--stop-after-batches)", runBatches)
	}
	if err != nil {
		return inputError(err)
	}
	if err := saveAsync(); err != nil { // written while the exports are computed
		return err
	}
	loop := time.Since(t0)
	if bar != nil {
		_ = bar.Finish()
	}
	loopTokens := p.Tokens - startTokens
	fmt.Fprintf(cmd.ErrOrStderr(), "profiled %d tokens in %.2f s (%.1f tok/s, checkpoints included)\n", loopTokens, loop.Seconds(), float64(loopTokens)/loop.Seconds())
	p.Finish()

	prov := s.provenance(f)
	prov.Dataset = profile.DatasetNote(f.data, sum, p.Tokens, p.Contexts, f.includeBOS, p.BOSExcluded)
	prov.Command = withoutResume(prov.Command)
	name := profile.TokenNames(tok)
	var heads, dlas map[hooks.Neuron]*profile.TokenLists
	if f.lmHead > 0 {
		if heads, err = profile.VocabTokens(m, points, f.lmHead, false, name); err != nil {
			return err
		}
	}
	if f.dla > 0 {
		if dlas, err = profile.VocabTokens(m, points, f.dla, true, name); err != nil {
			return err
		}
	}
	decorate := func(nr *profile.NeuronReport) {
		nr.LMHead, nr.DLA = heads[nr.Neuron], dlas[nr.Neuron]
	}
	if err := p.WriteExports(f.out, prov, set, name, decorate); err != nil {
		return err
	}
	if err := waitSave(); err != nil {
		return err
	}
	neurons := 0
	for _, l := range p.Layers {
		neurons += l.N
	}
	fmt.Fprintf(cmd.OutOrStdout(), "profiled %d neurons at %d hook points over %d tokens (%d contexts) → %s\n",
		neurons, len(p.Layers), p.Tokens, p.Contexts, f.out)
	return nil
}

var errKilled = errors.New("killed")

// profileAfterBatch, when set (by tests), runs after every batch with the run's
// signal-cancelled context and the number of batches done.
var profileAfterBatch func(ctx context.Context, batches int64)

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// withoutResume drops --resume from a command line, so a resumed run's provenance equals the
// uninterrupted run's.
func withoutResume(args []string) []string {
	var out []string
	for _, a := range args {
		if a != "--resume" && a != "--resume=true" {
			out = append(out, a)
		}
	}
	return out
}

// profileSetup is what a local profile run and a pipeline share: the flags checked, the model
// loaded, the hook points matched, the tokenizer, and the settings.
type profileSetup struct {
	m      *model.Model
	pats   []string
	points []hooks.Point
	tok    *tokenizer.Tokenizer
	enc    corpus.Encoder
	opt    profile.Options
	set    profile.Settings
}

// setupProfile checks the flags (every range error names its flag), loads the model (the
// caller closes it), adapts --ctx to the model's positions when it was not given, matches
// --hooks, and fills the options and settings (dataSHA256 is the data's hash).
func setupProfile(cmd *cobra.Command, mf *modelFlags, f *profileFlags, dataSHA256 string) (*profileSetup, error) {
	bins, per, err := parseQuantiles(f.quantiles)
	if err != nil {
		return nil, err
	}
	if err := checkRanges(
		intAtLeast("--ctx", f.ctx, 2), intAtLeast("--batch", f.batch, 1), intAtLeast("--top", f.top, 1),
		intAtLeast("--random", f.random, 1), intAtLeast("--hist-bins", f.histBins, 2), intAtLeast("--calib", f.calib, 1),
		intAtLeast("--max-tokens", int(min(f.maxTokens, 1<<40)), 0),
		intAtLeast("--window-before", f.before, 0), intAtLeast("--window-after", f.after, 0), intAtLeast("--lm-head", f.lmHead, 0),
		intAtLeast("--dla", f.dla, -1),
	); err != nil {
		return nil, err
	}
	policy, err := tokenizer.ParseBOSPolicy(f.bos)
	if err != nil {
		return nil, usageError{err}
	}
	m, err := mf.load(cmd)
	if err != nil {
		return nil, err
	}
	s := &profileSetup{m: m}
	fail := func(err error) (*profileSetup, error) {
		m.Close()
		return nil, err
	}
	if f.ctx > m.Config.MaxPos {
		if cmd.Flags().Changed("ctx") {
			return fail(usagef("--ctx %d is longer than the model's %d positions", f.ctx, m.Config.MaxPos))
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "note: contexts of %d tokens, the model's positions (the default --ctx %d is longer)\n", m.Config.MaxPos, f.ctx)
		f.ctx = m.Config.MaxPos
	}
	s.pats = splitPatterns(f.hooks)
	if s.points, err = m.Catalog().MatchAll(s.pats); err != nil { // each point once, however many patterns name it
		return fail(usagef("--hooks: %v", err))
	}
	for _, pt := range s.points {
		if len(m.Catalog().Shape(pt)) != 1 {
			return fail(usagef("--hooks: %s has shape %v after [batch, pos]; profile needs [batch, pos, neurons]", pt, m.Catalog().Shape(pt)))
		}
	}
	if s.tok, err = corpus.LoadTokenizer(m); err != nil {
		return fail(err)
	}
	s.enc = corpus.NewEncoder(m, s.tok, policy)
	s.opt = profile.Options{TopK: f.top, QuantileBins: bins, PerBin: per, RandomSample: f.random, HistBins: f.histBins,
		Before: f.before, After: f.after, CalibContext: f.calib, Seed: f.seed, IncludeBOS: f.includeBOS}.Defaults()
	s.opt.Before, s.opt.After = max(f.before, 0), max(f.after, 0)
	modelID := f.modelID
	if modelID == "" {
		modelID = filepath.Base(filepath.Clean(m.Dir))
	}
	bosNote := f.bos
	if s.tok == nil {
		bosNote = s.enc.PolicyNote()
	}
	s.set = profile.Settings{Data: f.data, DataSHA256: dataSHA256, Ctx: f.ctx, Batch: f.batch, MaxTokens: f.maxTokens, BOSPolicy: bosNote,
		ContextRule: corpus.ContextRule, Options: s.opt, ModelID: modelID}
	if f.dla < 0 {
		f.dla = f.lmHead
	}
	if f.lmHead > 0 {
		s.set.LMHeadSource = profile.LMHeadSource
	}
	if f.dla > 0 {
		s.set.DLASource = profile.DLASource
	}
	return s, nil
}

// provenance is the run's provenance but for the dataset note (profile.DatasetNote, known at
// the end) and the command line.
func (s *profileSetup) provenance(f *profileFlags) report.Provenance {
	prov := s.m.Provenance()
	prov.BOSPolicy = s.set.BOSPolicy
	prov.Padding = "right"
	seed := int64(f.seed)
	prov.Seed = &seed
	prov.HooksAsked = s.pats
	prov.HooksFired = pointNames(s.points)
	return prov
}
