package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/report"
	"github.com/neuronscope/neuronscope/model/tokenizer"
	"github.com/neuronscope/neuronscope/probes/spectra"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
)

func init() { extraCommands = append(extraCommands, newSpectraCmd) }

// spectraFlags are the flags of `neuronscope spectra`.
type spectraFlags struct {
	data, layers, bos, out string
	ctx, batch, every      int
	maxTokens              int64
	f32, includeBOS        bool
	resume, keepState      bool
	eigenvalues            bool
	noProgress             bool
	stopAfter              int  // hidden: simulate a kill after this many batches of this invocation
	fwdOnly                bool // hidden: the plain forward over the same batches (overhead baseline)
}

// spectraStateName is the checkpoint file inside --out.
const spectraStateName = "spectra-state.ckpt"

// spectraSettings are the settings recorded in spectra.json and fingerprinted for --resume.
type spectraSettings struct {
	Data            string `json:"data"`
	DataSHA256      string `json:"data_sha256"`
	Layers          []int  `json:"layers"`
	Ctx             int    `json:"ctx"`
	Batch           int    `json:"batch"`
	MaxTokens       int64  `json:"max_tokens"`
	BOSPolicy       string `json:"bos_policy"`
	IncludeBOS      bool   `json:"include_bos"`
	ContextRule     string `json:"context_rule"`
	Float32Products bool   `json:"float32_products"`
	// the run's counts (not fingerprinted)
	Stats *spectra.Stats `json:"stats,omitempty"`
}

func newSpectraCmd() *cobra.Command {
	var mf modelFlags
	var f spectraFlags
	cmd := &cobra.Command{
		Use:   "spectra --model DIR --data FILE.jsonl|FILE.txt [--layers 0-3] [--max-tokens N] [--ctx 64] [--batch 8] [--float32-products] --out DIR",
		Short: "NerVE eigenspectra of every layer's FFN pre- and post-activation over a dataset, with a per-layer plot",
		Long: `Spectra streams a dataset through the model (contexts as profile cuts them) and accumulates, per layer, the
float64 covariance of the FFN pre-activation (blocks.L.mlp.hook_pre: the W_in output, or gate_proj's for
gated MLPs) and of the post-activation (blocks.L.mlp.hook_post: the input of W_out/down_proj), then
computes NerVE's measures of their eigenspectra exactly as nerve/metrics.py does (package probes/spectra):
spectral entropy SE, participation ratio PR, early-eigenvalue enrichment EEE, the Jensen-Shannon
divergence between the pre and post spectra, PR gain and EEE difference, with each spectrum's rank.

Padding is never counted; BOS positions are left out unless --include-bos. With fewer tokens than
neurons (N ≤ d_mlp) most eigenvalues sit at NerVE's 1e-12 floor, which shifts SE and EEE: every such
spectrum is named in a warning (stderr and the report); use more tokens than d_mlp.

Cost: each token adds d_mlp(d_mlp+256)/2 multiply-adds per accumulator, 2 per layer (for GPT-2 small
about as many flops as the forward itself); --float32-products computes each batch's products in
float32 (about 2× faster, entries to ~1e-6 relative) while every accumulation stays float64.

Output (--out DIR): spectra.json (schema neuronscope.spectra/v1: per layer pre and post SE, PR, EEE,
tokens, width, rank bound, numerical rank, eigenvalues at the floor; JS, pr_gain, eee_diff; the summary
over layers; settings and provenance), spectra.png and spectra.svg (the four measures per layer, pre
vs post). The accumulators are checkpointed to DIR/` + spectraStateName + ` every --checkpoint-every batches and
on Ctrl-C; --resume continues from it with identical results (it is removed at the end unless
--keep-state).`,
		Example: `  neuronscope spectra --model testdata/world-llama --data testdata/world/train.txt --out spectra-world
  neuronscope spectra --model DIR --data corpus.jsonl --ctx 128 --max-tokens 1000000 --float32-products --resume --out spectra-run
  neuronscope spectra --model testdata/world-gpt2 --data testdata/world/train.txt --layers 0,3 --out spectra-ends`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runSpectra(cmd, &mf, &f) },
	}
	mf.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.data, "data", "", "dataset: FILE.txt (a document per line) or FILE.jsonl")
	fl.StringVar(&f.layers, "layers", "", "layers to measure, e.g. 0,2 or 1-3 (default: all)")
	fl.IntVar(&f.ctx, "ctx", 64, "context length in tokens")
	fl.IntVar(&f.batch, "batch", 8, "contexts per forward pass")
	fl.Int64Var(&f.maxTokens, "max-tokens", 0, "stop after this many tokens (0: the whole dataset)")
	fl.BoolVar(&f.f32, "float32-products", false, "compute each batch's covariance products in float32 (accumulation stays float64; ~2× faster)")
	fl.StringVar(&f.bos, "bos", "auto", "BOS policy for text documents: auto (as HF's add_special_tokens), always, never")
	fl.BoolVar(&f.includeBOS, "include-bos", false, "count the BOS positions (by default they are left out)")
	fl.BoolVar(&f.eigenvalues, "eigenvalues", false, "store every spectrum (descending, clamped) in spectra.json")
	fl.IntVar(&f.every, "checkpoint-every", 200, "checkpoint the accumulators every N batches (0: only on Ctrl-C)")
	fl.BoolVar(&f.resume, "resume", false, "continue from DIR/"+spectraStateName)
	fl.BoolVar(&f.keepState, "keep-state", false, "keep the checkpoint after a finished run (accumulators for spectra.State / Covariance.Merge)")
	fl.StringVar(&f.out, "out", "", "output directory")
	fl.BoolVar(&f.noProgress, "no-progress", false, "no progress bar")
	fl.IntVar(&f.stopAfter, "stop-after-batches", 0, "testing: stop after N batches without a final checkpoint, as if killed")
	_ = fl.MarkHidden("stop-after-batches")
	fl.BoolVar(&f.fwdOnly, "forward-only", false, "benchmarking: run the same batches through the plain forward only, print tokens/s, write nothing")
	_ = fl.MarkHidden("forward-only")
	return cmd
}

func runSpectra(cmd *cobra.Command, mf *modelFlags, f *spectraFlags) (rerr error) {
	if f.data == "" || f.out == "" {
		return usagef("--data and --out are required")
	}
	if !corpus.IsDataFile(f.data) {
		return usagef("--data %s: must end in .jsonl or .txt", f.data)
	}
	if err := checkRanges(intAtLeast("--ctx", f.ctx, 2), intAtLeast("--batch", f.batch, 1),
		intAtLeast("--checkpoint-every", f.every, 0), intAtLeast("--max-tokens", int(min(f.maxTokens, 1<<40)), 0)); err != nil {
		return err
	}
	policy, err := tokenizer.ParseBOSPolicy(f.bos)
	if err != nil {
		return usageError{err}
	}
	if err := checkOutDir("--out", f.out); err != nil {
		return err
	}
	if _, err := os.Stat(f.data); err != nil {
		return usagef("--data: %v", err)
	}
	m, err := mf.load(cmd)
	if err != nil {
		return err
	}
	defer m.Close()
	if f.ctx > m.Config.MaxPos {
		if cmd.Flags().Changed("ctx") {
			return usagef("--ctx %d is longer than the model's %d positions", f.ctx, m.Config.MaxPos)
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "note: contexts of %d tokens, the model's positions (the default --ctx %d is longer)\n", m.Config.MaxPos, f.ctx)
		f.ctx = m.Config.MaxPos
	}
	layers, err := parseLayers(f.layers, m.Config.NLayers)
	if err != nil {
		return err
	}
	opts := spectra.Options{Float32Products: f.f32}
	pairs, err := spectra.NewPairs(m, layers, opts)
	if err != nil {
		return usagef("--model %s: %v", m.Dir, err)
	}
	tok, err := corpus.LoadTokenizer(m)
	if err != nil {
		return err
	}
	enc := corpus.NewEncoder(m, tok, policy)
	sum, err := fileSHA256(f.data)
	if err != nil {
		return err
	}
	set := spectraSettings{Data: f.data, DataSHA256: sum, Ctx: f.ctx, Batch: f.batch, MaxTokens: f.maxTokens,
		BOSPolicy: enc.PolicyNote(), IncludeBOS: f.includeBOS, ContextRule: corpus.ContextRule, Float32Products: f.f32}
	for _, p := range pairs {
		set.Layers = append(set.Layers, p.Layer)
	}
	fpJSON, _ := json.Marshal(struct {
		S   spectraSettings
		Cfg string
	}{set, m.Config.Hash})
	fp := fmt.Sprintf("%x", sha256.Sum256(fpJSON))

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
	ckpt := filepath.Join(f.out, spectraStateName)
	var done spectra.Stats // what earlier invocations streamed (--resume)
	if f.resume && fileExists(ckpt) {
		st, err := spectra.LoadState(ckpt, fp, opts)
		if err != nil {
			return usagef("--resume: %v", err)
		}
		pairs, done = st.Pairs, st.Stats
		fmt.Fprintf(cmd.ErrOrStderr(), "resuming after %d batches (%d tokens)\n", done.Batches, done.Tokens)
	} else if f.resume {
		fmt.Fprintf(cmd.ErrOrStderr(), "--resume: no %s yet; starting from the beginning\n", ckpt)
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
		bar = newBar(cmd, total, "spectra", "tok")
		_ = bar.Set64(done.Tokens)
	}
	ctx, stop := interruptible(cmd)
	defer stop()
	padID := max(m.Config.Pad, 0)
	t0 := time.Now()
	if f.fwdOnly {
		return forwardOnly(cmd, m, contexts, corpus.RunOptions{Batch: f.batch, PadID: padID, Skip: done.Contexts}, bar)
	}
	save := func(st spectra.Stats) error {
		all := done
		all.Add(st)
		return spectra.SaveState(ckpt, &spectra.State{Fingerprint: fp, Stats: all, Pairs: pairs})
	}
	var last spectra.Stats
	interrupted := false
	st, err := spectra.Stream(m, pairs, contexts, spectra.StreamOptions{Batch: f.batch, PadID: padID, Skip: done.Contexts,
		IncludeBOS: f.includeBOS, After: func(b *corpus.Batch, s spectra.Stats) error {
			last = s
			if bar != nil {
				_ = bar.Set64(done.Tokens + s.Tokens)
			}
			if f.stopAfter > 0 && s.Batches >= int64(f.stopAfter) {
				return errKilled
			}
			if spectraAfterBatch != nil {
				spectraAfterBatch(ctx, s.Batches)
			}
			if ctx.Err() != nil {
				interrupted = true
				return errKilled
			}
			if f.every > 0 && (done.Batches+s.Batches)%int64(f.every) == 0 {
				return save(s)
			}
			return nil
		}})
	if errors.Is(err, errKilled) {
		if interrupted {
			if serr := save(last); serr != nil {
				return serr
			}
			return fmt.Errorf("interrupted after %d tokens; the state is in %s, continue with --resume", done.Tokens+last.Tokens, ckpt)
		}
		return fmt.Errorf("stopped after %d batches (--stop-after-batches)", last.Batches)
	}
	if err != nil {
		return inputError(err)
	}
	loop := time.Since(t0)
	if bar != nil {
		_ = bar.Finish()
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "streamed %d tokens in %.2f s (%.1f tok/s); computing %d eigendecompositions of width %d…\n",
		st.Tokens, loop.Seconds(), float64(st.Tokens)/loop.Seconds(), 2*len(pairs), pairs[0].Pre.Width())
	done.Add(st)
	if done.Rows == 0 {
		return usagef("--data %s: no token is left once BOS positions are left out (give --include-bos)", f.data)
	}

	prov := m.Provenance()
	prov.BOSPolicy = enc.PolicyNote()
	prov.Padding = "right (pads never counted)"
	prov.Dataset = fmt.Sprintf("%s (sha256 %s), %d tokens in %d contexts", f.data, sum, done.Tokens, done.Contexts)
	if f.includeBOS {
		prov.Dataset += "; BOS positions counted (--include-bos)"
	} else {
		prov.Dataset += fmt.Sprintf("; %d BOS positions left out", done.BOSExcluded)
	}
	for _, p := range pairs {
		prov.HooksFired = append(prov.HooksFired, p.PrePoint, p.PostPoint)
	}
	prov.HooksAsked = []string{"blocks.L.mlp.hook_pre", "blocks.L.mlp.hook_post"}
	prov.Command = withoutResume(prov.Command)
	t1 := time.Now()
	rep, err := spectra.Analyze(pairs, prov, spectra.AnalyzeOptions{KeepEigenvalues: f.eigenvalues})
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "eigendecompositions and measures in %.2f s\n", time.Since(t1).Seconds())
	set.Stats = &done
	rep.Settings = set
	for _, w := range rep.Warnings {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", w)
	}
	plot := func(format string) func(w io.Writer) error {
		return func(w io.Writer) error { return spectra.WritePlot(w, rep.Layers, format) }
	}
	if err := report.WriteFiles(
		report.File{Path: filepath.Join(f.out, "spectra.json"), Write: func(w io.Writer) error { return report.WriteJSON(w, rep) }},
		report.File{Path: filepath.Join(f.out, "spectra.png"), Write: plot("png")},
		report.File{Path: filepath.Join(f.out, "spectra.svg"), Write: plot("svg")}); err != nil {
		return err
	}
	if !f.keepState {
		if err := os.Remove(ckpt); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	} else if err := save(spectra.Stats{}); err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "%5s %9s %9s %9s %9s %8s %8s %9s %8s %8s\n", "layer", "SE pre", "SE post", "PR pre", "PR post", "EEE pre", "EEE post", "JS", "PR gain", "EEE diff")
	for _, l := range rep.Layers {
		fmt.Fprintf(w, "%5d %9.4f %9.4f %9.2f %9.2f %8.4f %8.4f %9.5f %8.3f %+8.4f\n", l.Layer, l.Pre.SE, l.Post.SE, l.Pre.PR, l.Post.PR,
			l.Pre.EEE, l.Post.EEE, l.JS, l.PRGain, l.EEEDiff)
	}
	fmt.Fprintf(w, "spectra of %d layers over %d tokens (%d contexts) → %s (spectra.json, spectra.png, spectra.svg)\n",
		len(rep.Layers), done.Rows, done.Contexts, f.out)
	return nil
}

// spectraAfterBatch, when set (by tests), runs after every batch with the run's
// signal-cancelled context and the number of batches done in this invocation.
var spectraAfterBatch func(ctx context.Context, batches int64)
