package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/neuronscope/neuronscope/attribute"
	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/tensor"
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
}

const checkpointName = "state.ckpt"

func newProfileCmd() *cobra.Command {
	var mf modelFlags
	var f profileFlags
	cmd := &cobra.Command{
		Use:   "profile --model DIR --data FILE.jsonl|FILE.txt [--hooks 'blocks.*.mlp.hook_post'] [--ctx 64] [--top 20] [--quantiles 5x5] [--max-tokens N] [--resume] --out DIR",
		Short: "Profile every neuron over a dataset: statistics, top-k max/min contexts, quantile samples; NeuronRecord and Neuronpedia exports",
		Long: `profile streams a dataset through the model in batches of fixed-length contexts and keeps, for
every neuron of the chosen hook points, streaming statistics (count, mean, variance, skewness,
kurtosis, fraction > 0 and ≠ 0, max, min, a histogram), the top-k maximum and minimum activating
contexts, and reservoir samples per quantile bin of the per-context maximum.

Data: .txt has one document per non-blank line; .jsonl has one document per line, a JSON string,
an object with "text" (and optionally "id"), an object with "ids"/"input_ids", or an array of
token ids. Text is tokenized with the model's tokenizer.json under --bos; documents are cut into
contexts of --ctx tokens that never span documents; continuation contexts of a document that
began with BOS start with BOS again; a document's last context may be shorter (padded, and pads
are not counted).

Per mlp.hook_post neuron, --lm-head K attaches the LM-head decoding of its raw write direction
(W_U·w) and --dla K its direct logit attribution per unit activation through the final norm
weight (W_U·(γ ⊙ P w), as attribute.DirectLogit up to the position's 1/ln_final.hook_scale).

Output (--out DIR): profile.json (schema_version, provenance), neuron_records/HOOK.jsonl
(OpenAI NeuronRecord), neuronpedia/batch-I.json (Neuronpedia features) and state.ckpt (the
checkpoint, written every --checkpoint-every batches and on Ctrl-C; --resume continues from it
and gives the same output as an uninterrupted run).`,
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
	fl.IntVar(&f.every, "checkpoint-every", 50, "write the checkpoint every N batches")
	fl.IntVar(&f.lmHead, "lm-head", 10, "attach each hook_post neuron's top/bottom K tokens of the LM-head decoding of its raw write direction, W_U·w (0: off)")
	fl.IntVar(&f.dla, "dla", -1, "attach each hook_post neuron's top/bottom K direct-logit-attribution tokens per unit activation, W_U·(γ ⊙ P w) through the final norm weight (0: off; -1: as --lm-head)")
	fl.StringVar(&f.modelID, "model-id", "", "modelId of the Neuronpedia export (default: the model directory's name)")
	fl.BoolVar(&f.noProgress, "no-progress", false, "no progress bar")
	fl.IntVar(&f.stopAfter, "stop-after-batches", 0, "testing: stop after N batches without a final checkpoint, as if killed")
	_ = fl.MarkHidden("stop-after-batches")
	fl.BoolVar(&f.fwdOnly, "forward-only", false, "benchmarking: run the same batches through the plain forward without profiling, print tokens/s, write nothing")
	_ = fl.MarkHidden("forward-only")
	return cmd
}

// dataDoc is one document of the dataset: text to tokenize, or token ids.
type dataDoc struct {
	text  string
	ids   []int
	isIDs bool
}

// forEachDoc streams the documents of a .txt or .jsonl dataset.
func forEachDoc(path string, fn func(dataDoc) error) error {
	f, err := os.Open(path)
	if err != nil {
		return usagef("--data: %v", err)
	}
	defer f.Close()
	jsonl := strings.HasSuffix(path, ".jsonl")
	br := bufio.NewReaderSize(f, 1<<20)
	for lineNo := 1; ; lineNo++ {
		line, rerr := br.ReadBytes('\n')
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return fmt.Errorf("--data %s: line %d: %v", path, lineNo, rerr)
		}
		if t := bytes.TrimSpace(line); len(t) > 0 {
			var d dataDoc
			if !jsonl {
				d.text = string(bytes.TrimRight(line, "\r\n"))
			} else if d, err = parseDocLine(t); err != nil {
				return usagef("--data %s: line %d: %v", path, lineNo, err)
			}
			if err := fn(d); err != nil {
				return err
			}
		}
		if rerr != nil {
			return nil
		}
	}
}

func parseDocLine(t []byte) (dataDoc, error) {
	switch t[0] {
	case '"':
		var s string
		err := json.Unmarshal(t, &s)
		return dataDoc{text: s}, err
	case '[':
		var ids []int
		err := json.Unmarshal(t, &ids)
		return dataDoc{ids: ids, isIDs: true}, err
	case '{':
		var o struct {
			Text     *string `json:"text"`
			IDs      []int   `json:"ids"`
			InputIDs []int   `json:"input_ids"`
		}
		if err := json.Unmarshal(t, &o); err != nil {
			return dataDoc{}, err
		}
		switch {
		case o.Text != nil:
			return dataDoc{text: *o.Text}, nil
		case o.IDs != nil:
			return dataDoc{ids: o.IDs, isIDs: true}, nil
		case o.InputIDs != nil:
			return dataDoc{ids: o.InputIDs, isIDs: true}, nil
		}
		return dataDoc{}, fmt.Errorf(`an object needs "text", "ids" or "input_ids"`)
	}
	return dataDoc{}, fmt.Errorf("not a JSON string, object or array of token ids")
}

// contextSource cuts documents into contexts (see the command's help for the policy).
type contextSource struct {
	path      string
	tok       *tokenizer.Tokenizer
	policy    tokenizer.BOSPolicy
	bosID     int
	ctx       int
	vocab     int
	maxTokens int64
}

// each calls fn with every context in order; fn returning errStop ends the stream quietly.
func (s *contextSource) each(fn func(profile.Context) error) error {
	var doc, index, tokens int64
	err := forEachDoc(s.path, func(d dataDoc) error {
		ids := d.ids
		if !d.isIDs {
			if s.tok == nil {
				return usagef("--data %s has text documents, and the model has no tokenizer.json (give token ids instead)", s.path)
			}
			enc, err := s.tok.EncodeWithBOS(d.text, s.policy, s.bosID)
			if err != nil {
				return fmt.Errorf("document %d: %w", doc, err)
			}
			ids = enc.IDs
		}
		for _, id := range ids {
			if id < 0 || id >= s.vocab {
				return usagef("--data: document %d: token id %d is outside the vocabulary [0, %d)", doc, id, s.vocab)
			}
		}
		reBOS := !d.isIDs && s.bosID >= 0 && len(ids) > 0 && ids[0] == s.bosID && s.policy != tokenizer.BOSNever
		for start := 0; start < len(ids); {
			var c profile.Context
			if start > 0 && reBOS {
				n := min(s.ctx-1, len(ids)-start)
				c.IDs = append([]int{s.bosID}, ids[start:start+n]...)
				c.Start = start - 1
				start += n
			} else {
				n := min(s.ctx, len(ids)-start)
				c.IDs = ids[start : start+n]
				c.Start = start
				start += n
			}
			if s.maxTokens > 0 && tokens+int64(len(c.IDs)) > s.maxTokens {
				c.IDs = c.IDs[:s.maxTokens-tokens]
			}
			if len(c.IDs) == 0 {
				return errStop
			}
			c.Len, c.Doc, c.Index = len(c.IDs), doc, index
			index++
			tokens += int64(c.Len)
			if err := fn(c); err != nil {
				return err
			}
			if s.maxTokens > 0 && tokens >= s.maxTokens {
				return errStop
			}
		}
		doc++
		return nil
	})
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}

var errStop = errors.New("stop")

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

func runProfile(cmd *cobra.Command, mf *modelFlags, f *profileFlags) error {
	if f.data == "" || f.out == "" {
		return usagef("--data and --out are required")
	}
	if !strings.HasSuffix(f.data, ".jsonl") && !strings.HasSuffix(f.data, ".txt") {
		return usagef("--data %s: must end in .jsonl or .txt", f.data)
	}
	bins, per, err := parseQuantiles(f.quantiles)
	if err != nil {
		return err
	}
	if f.ctx < 2 || f.batch < 1 || f.top < 1 || f.random < 1 || f.histBins < 2 || f.calib < 1 || f.every < 1 || f.maxTokens < 0 {
		return usagef("--ctx must be ≥ 2, --max-tokens ≥ 0, and --batch, --top, --random, --calib, --checkpoint-every ≥ 1, --hist-bins ≥ 2")
	}
	policy, err := tokenizer.ParseBOSPolicy(f.bos)
	if err != nil {
		return usageError{err}
	}
	m, err := mf.load(cmd)
	if err != nil {
		return err
	}
	defer m.Close()
	if f.ctx > m.Config.MaxPos {
		return usagef("--ctx %d is longer than the model's %d positions", f.ctx, m.Config.MaxPos)
	}
	pats := splitPatterns(f.hooks)
	matched, err := m.Catalog().MatchAll(pats)
	if err != nil {
		return usagef("--hooks: %v", err)
	}
	var points []hooks.Point // each point once, however many patterns name it
	seenPt := map[hooks.Point]bool{}
	for _, pt := range matched {
		if !seenPt[pt] {
			seenPt[pt] = true
			points = append(points, pt)
		}
	}
	var tok *tokenizer.Tokenizer
	if path := filepath.Join(m.Dir, "tokenizer.json"); fileExists(path) {
		if tok, err = tokenizer.Load(path); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(f.out, 0o755); err != nil {
		return err
	}
	sum, err := fileSHA256(f.data)
	if err != nil {
		return err
	}
	opt := profile.Options{TopK: f.top, QuantileBins: bins, PerBin: per, RandomSample: f.random, HistBins: f.histBins,
		Before: f.before, After: f.after, CalibContext: f.calib, Seed: f.seed}.Defaults()
	opt.Before, opt.After = max(f.before, 0), max(f.after, 0)
	modelID := f.modelID
	if modelID == "" {
		modelID = filepath.Base(filepath.Clean(m.Dir))
	}
	bosNote := f.bos
	if tok == nil {
		bosNote = "ids given verbatim (no tokenizer)"
	}
	set := profile.Settings{Data: f.data, DataSHA256: sum, Ctx: f.ctx, Batch: f.batch, MaxTokens: f.maxTokens, BOSPolicy: bosNote,
		ContextRule: "documents cut into contexts of ctx tokens that never span documents; continuation contexts of a document that began with BOS start with BOS; the last context of a document may be shorter (padded; pads not counted)",
		Options:     opt, ModelID: modelID}
	fpJSON, _ := json.Marshal(struct {
		S     profile.Settings
		Hooks []string
		Cfg   string
	}{set, pointNames(points), m.Config.Hash})
	fp := fmt.Sprintf("%x", sha256.Sum256(fpJSON))

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

	src := &contextSource{path: f.data, tok: tok, policy: policy, bosID: m.Config.BOS, ctx: f.ctx, vocab: m.Config.DVocab, maxTokens: f.maxTokens}
	var total int64
	if err := src.each(func(c profile.Context) error { total += int64(c.Len); return nil }); err != nil {
		return err
	}
	if total == 0 {
		return usagef("--data %s has no tokens", f.data)
	}

	var bar *progressbar.ProgressBar
	if !f.noProgress {
		bar = progressbar.NewOptions64(total, progressbar.OptionSetWriter(cmd.ErrOrStderr()),
			progressbar.OptionSetDescription("profiling"), progressbar.OptionShowCount(),
			progressbar.OptionSetItsString("tok"), progressbar.OptionShowIts(), progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(cmd.ErrOrStderr()) }))
		_ = bar.Set64(p.Tokens)
	}

	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	var rows []profile.Context
	observe := func(pt hooks.Point, a *tensor.Tensor) error {
		if len(a.Shape) != 3 {
			return usagef("--hooks: %s has shape %v; profile needs [batch, pos, neurons]", pt, a.Shape)
		}
		return p.Observe(pt.String(), pt.Layer, a.Data, rows, a.Shape[1], a.Shape[2])
	}
	var opts []hooks.Option
	for _, pt := range points {
		opts = append(opts, hooks.ObservePoint(pt, observe))
	}
	if f.fwdOnly {
		opts = nil
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
	padID := max(m.Config.Pad, 0)
	var loopTokens int64 // real tokens run in this invocation
	done, runBatches := p.Contexts, 0
	interrupted := false
	flush := func() error {
		if len(rows) == 0 {
			return nil
		}
		seqs := make([][]int, len(rows))
		for i, r := range rows {
			seqs[i] = r.IDs
		}
		b, err := model.NewBatch(seqs, model.PadRight, padID)
		if err != nil {
			return err
		}
		if _, err := m.Forward(b, opts...); err != nil {
			return err
		}
		for _, r := range rows {
			loopTokens += int64(r.Len)
		}
		if f.fwdOnly {
			rows = rows[:0]
			return nil
		}
		p.EndBatch(rows)
		if bar != nil {
			_ = bar.Set64(p.Tokens)
		}
		rows = rows[:0]
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
	}
	var seen int64
	t0 := time.Now()
	err = src.each(func(c profile.Context) error {
		if seen++; seen <= done {
			return nil
		}
		rows = append(rows, c)
		if len(rows) == f.batch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
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
		return err
	}
	if f.fwdOnly {
		if bar != nil {
			_ = bar.Finish()
		}
		el := time.Since(t0)
		fmt.Fprintf(cmd.OutOrStdout(), "forward only: %d tokens in %.2f s (%.1f tok/s)\n", loopTokens, el.Seconds(), float64(loopTokens)/el.Seconds())
		return nil
	}
	if err := saveAsync(); err != nil { // written while the exports are computed
		return err
	}
	loop := time.Since(t0)
	if bar != nil {
		_ = bar.Finish()
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "profiled %d tokens in %.2f s (%.1f tok/s, checkpoints included)\n", loopTokens, loop.Seconds(), float64(loopTokens)/loop.Seconds())
	p.Finish()

	prov := m.Provenance()
	prov.BOSPolicy = bosNote
	prov.Padding = "right"
	seed := int64(f.seed)
	prov.Seed = &seed
	prov.Dataset = fmt.Sprintf("%s (sha256 %s), %d tokens in %d contexts", f.data, sum, p.Tokens, p.Contexts)
	prov.HooksAsked = pats
	prov.HooksFired = pointNames(points)
	prov.Command = withoutResume(prov.Command)
	name := func(id int) string { return fmt.Sprintf("<%d>", id) }
	if tok != nil {
		name = func(id int) string {
			// SentencePiece vocabularies mark a leading space with ▁, which decoding a single
			// token strips; show it as a space. Otherwise decode the token alone (byte-level
			// BPE: Ġ becomes a space, bytes become text).
			if s, ok := tok.IDToToken(id); ok && strings.Contains(s, "▁") {
				return strings.ReplaceAll(s, "▁", " ")
			}
			if s, err := tok.Decode([]int{id}, false); err == nil && s != "" {
				return s
			}
			if s, ok := tok.IDToToken(id); ok {
				return s
			}
			return fmt.Sprintf("<%d>", id)
		}
	}
	if f.dla < 0 {
		f.dla = f.lmHead
	}
	if f.lmHead > 0 {
		set.LMHeadSource = "attribute.DecodeNeurons (NormWeight false): LM-head decoding of the raw write direction w (column of down_proj / W_out); score_t = W_U[t]·w; top and bottom tokens"
	}
	if f.dla > 0 {
		set.DLASource = "attribute.DecodeNeurons (NormWeight true): direct logit attribution per unit activation, the write direction through the final norm's linear part and the unembedding as in attribute.DirectLogit; score_t = W_U[t]·(g ⊙ P w) (g the final norm weight, Gemma 1+γ; P centering for LayerNorm); the logit change is a·score_t/s at a position with activation a and ln_final.hook_scale s"
	}
	var heads, dlas map[[2]int]*profile.TokenLists
	if f.lmHead > 0 {
		if heads, err = writeTokens(m, points, f.lmHead, false, name); err != nil {
			return err
		}
	}
	if f.dla > 0 {
		if dlas, err = writeTokens(m, points, f.dla, true, name); err != nil {
			return err
		}
	}
	decorate := func(nr *profile.NeuronReport) {
		if strings.HasSuffix(nr.Hook, ".mlp.hook_post") {
			nr.LMHead = heads[[2]int{nr.Layer, nr.Index}]
			nr.DLA = dlas[[2]int{nr.Layer, nr.Index}]
		}
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

// writeTokens projects the write direction of every profiled mlp.hook_post neuron onto the
// vocabulary with attribute.DecodeNeuronsFunc, keyed by (layer, neuron): through the
// unembedding alone (normWeight false: the LM-head decoding), or first through the final norm's
// linear part (normWeight true: direct logit attribution per unit activation, up to the
// position's 1/ln_final.hook_scale).
func writeTokens(m *model.Model, points []hooks.Point, k int, normWeight bool, name profile.TokenNamer) (map[[2]int]*profile.TokenLists, error) {
	var layers []int
	for _, pt := range points {
		if pt.Site == hooks.MLPPost {
			layers = append(layers, pt.Layer)
		}
	}
	out := map[[2]int]*profile.TokenLists{}
	if len(layers) == 0 {
		return out, nil
	}
	conv := func(ts []attribute.DecodedToken) []profile.ScoredToken {
		res := make([]profile.ScoredToken, len(ts))
		for i, t := range ts {
			res[i] = profile.ScoredToken{ID: t.ID, Token: name(t.ID), Score: t.Score}
		}
		return res
	}
	err := attribute.DecodeNeuronsFunc(m, attribute.DecodeOptions{K: k, Layers: layers,
		Directions: []attribute.DecodeDirection{attribute.DecodeWrite}, NormWeight: normWeight},
		func(layer []attribute.NeuronDecoding) error {
			for _, d := range layer {
				out[[2]int{d.Layer, d.Index}] = &profile.TokenLists{Top: conv(d.WriteTop), Bottom: conv(d.WriteBottom)}
			}
			return nil
		})
	return out, err
}
