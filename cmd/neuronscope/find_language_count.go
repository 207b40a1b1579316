package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/report"
	"github.com/neuronscope/neuronscope/model/tokenizer"
	"github.com/neuronscope/neuronscope/probes/distributed"
	"github.com/neuronscope/neuronscope/probes/language"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
)

// countFlags are the flags of counting activation probabilities from a model.
type countFlags struct {
	model      modelFlags
	data       []string
	groupKey   string
	groups     string
	tap        string
	ctx, batch int
	bos        string
	response   bool
	prefixKey  string
	saveProbs  string
	checkpoint string
	resume     bool
	every      int
	noProgress bool
	beam       beamFlags
	// provenance is the counting model's, once loaded.
	provenance *report.Provenance
}

func (f *countFlags) register(cmd *cobra.Command) {
	f.model.register(cmd)
	f.model.text = "find language"
	fl := cmd.Flags()
	fl.StringArrayVar(&f.data, "data", nil, "per-group data: GROUP=FILE (.txt or .jsonl; repeat per group), or one FILE.jsonl with --group-key")
	fl.StringVar(&f.groupKey, "group-key", "", "with one --data FILE.jsonl: the string field naming each document's group")
	fl.StringVar(&f.groups, "groups", "", "with --group-key: the groups to count, comma-separated, in output order (default: order of first appearance)")
	fl.StringVar(&f.tap, "tap", "", "site counted at every layer (default: mlp.hook_pre for gated MLPs, mlp.hook_post otherwise); with --probs, the tap of a file that names none")
	fl.IntVar(&f.ctx, "ctx", 0, "context length in tokens (default: the model's positions, at most 512)")
	fl.IntVar(&f.batch, "batch", 8, "contexts per forward pass")
	fl.StringVar(&f.bos, "bos", "auto", "BOS policy for text documents: auto, always, never")
	fl.BoolVar(&f.response, "response-only", false, "count only the tokens after each document's prompt (the alignment paper's full − prefix)")
	fl.StringVar(&f.prefixKey, "prefix-key", "prompt", "with --response-only: the JSONL string field holding the prompt the text starts with")
	fl.StringVar(&f.saveProbs, "save-probs", "", "also write the counted activation-probability file (safetensors)")
	fl.StringVar(&f.checkpoint, "checkpoint", "", "write the counting state to this file every --checkpoint-every batches (resume with --resume)")
	fl.BoolVar(&f.resume, "resume", false, "continue counting from --checkpoint")
	fl.IntVar(&f.every, "checkpoint-every", 50, "batches between checkpoints")
	fl.BoolVar(&f.noProgress, "no-progress", false, "no progress bar")
	f.beam.register(cmd)
}

// countData turns --data, --group-key, --groups and --response-only into a language.Data.
func (f *countFlags) countData() (language.Data, error) {
	var d language.Data
	if len(f.data) == 0 {
		return d, usagef("--model needs --data GROUP=FILE ... (or --data FILE.jsonl --group-key KEY)")
	}
	if f.groupKey != "" {
		if len(f.data) != 1 || strings.Contains(f.data[0], "=") {
			return d, usagef("--group-key takes one --data FILE.jsonl, not %q", f.data)
		}
		d.Keyed, d.GroupKey = f.data[0], f.groupKey
		if f.groups != "" {
			for _, g := range strings.Split(f.groups, ",") {
				d.Groups = append(d.Groups, strings.TrimSpace(g))
			}
		}
	} else {
		if f.groups != "" {
			return d, usagef("--groups applies to --group-key only (GROUP=FILE names the groups)")
		}
		for _, v := range f.data {
			gf, err := language.ParseGroupFile(v)
			if err != nil {
				return d, usagef("--data: %v (or give one FILE.jsonl with --group-key)", err)
			}
			d.Files = append(d.Files, gf)
		}
	}
	if f.response {
		d.PrefixKey = f.prefixKey
	}
	return d, nil
}

// countProbs counts activation probabilities from --model over --data (language.Counter.Run):
// every input is checked before the first forward, the pass checkpoints when asked, and
// --save-probs is written only at the end.
func countProbs(cmd *cobra.Command, f *countFlags) (*language.Probabilities, string, error) {
	if f.batch < 1 || f.every < 1 || f.ctx < 0 || f.ctx == 1 {
		return nil, "", usagef("--batch and --checkpoint-every must be ≥ 1 and --ctx ≥ 2")
	}
	if f.resume && f.checkpoint == "" {
		return nil, "", usagef("--resume needs --checkpoint FILE")
	}
	policy, err := tokenizer.ParseBOSPolicy(f.bos)
	if err != nil {
		return nil, "", usageError{err}
	}
	d, err := f.countData()
	if err != nil {
		return nil, "", err
	}
	groups, items, err := d.Resolve()
	if err != nil {
		var ie *corpus.InputError
		switch {
		case errors.As(err, &ie) || d.Keyed == "":
			return nil, "", usagef("--data: %v", err)
		case len(d.Groups) > 0:
			return nil, "", usagef("--groups: %v", err)
		}
		return nil, "", usagef("--group-key %s: %v", d.GroupKey, err)
	}
	m, err := f.model.load(cmd)
	if err != nil {
		return nil, "", err
	}
	defer m.Close()
	prov := m.Provenance()
	prov.BOSPolicy = policy.String()
	f.provenance = &prov
	site := language.DefaultTap(m.Catalog())
	if f.tap != "" {
		if site, err = hooks.ParseSite(f.tap); err != nil {
			return nil, "", usagef("--tap %q: %v", f.tap, err)
		}
	}
	tapPt := hooks.At(0, site)
	if !m.Catalog().Has(tapPt) || len(m.Catalog().Shape(tapPt)) != 1 {
		return nil, "", usagef("--tap %s: the model (%s) has no such [batch, pos, neurons] point", site, m.Config.ModelType)
	}
	ctx := f.ctx
	if ctx == 0 {
		ctx = min(m.Config.MaxPos, 512)
	}
	if ctx > m.Config.MaxPos {
		return nil, "", usagef("--ctx %d is longer than the model's %d positions", ctx, m.Config.MaxPos)
	}
	tok, err := corpus.LoadTokenizer(m)
	if err != nil {
		return nil, "", err
	}
	enc := corpus.NewEncoder(m, tok, policy)
	whole := f.response
	tokens, _, err := language.Scan(enc, items, groups, ctx, f.response, whole)
	if err != nil {
		var eg *language.EmptyGroupError
		if errors.As(err, &eg) {
			file := d.Keyed
			for _, gf := range d.Files {
				if gf.Group == eg.Group {
					file = gf.Path
				}
			}
			return nil, "", usagef("--data %s: %v", file, err)
		}
		return nil, "", inputError(err)
	}
	var total int64
	for _, n := range tokens {
		total += n
	}
	if f.beam.runner != "" {
		return countProbsBeam(cmd, f, d, groups, site, ctx, m.Dir)
	}
	fp := countFingerprint(f, d, groups, site, ctx, m.Config.Hash)
	W := m.Catalog().Width(tapPt)
	var c *language.Counter
	if f.resume && fileExists(f.checkpoint) {
		if c, err = language.LoadCounter(f.checkpoint, fp); err != nil {
			return nil, "", usagef("--resume: %v", err)
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "resuming after %d batches\n", c.Batches)
	} else if c, err = language.NewCounter(groups, site.String(), m.Config.NLayers, W, f.response); err != nil {
		return nil, "", usagef("--data: %v", err)
	}
	var bar *progressbar.ProgressBar
	if !f.noProgress {
		bar = newBar(cmd, total, "counting", "tok")
		_ = bar.Set64(sum64(c.Full.Tokens))
	}
	err = c.Run(m, enc, items, language.PassOptions{Tap: site, Ctx: ctx, Batch: f.batch, PadID: max(m.Config.Pad, 0),
		AfterBatch: func(c *language.Counter) error {
			if bar != nil {
				_ = bar.Set64(sum64(c.Full.Tokens))
			}
			if f.checkpoint != "" && c.Batches%int64(f.every) == 0 {
				return c.Save(f.checkpoint, fp)
			}
			return nil
		}})
	if err != nil {
		return nil, "", inputError(err)
	}
	if bar != nil {
		_ = bar.Finish()
	}
	p, err := c.Probabilities()
	if err != nil {
		return nil, "", usagef("--data: %v", err)
	}
	source := fmt.Sprintf("counted: %s at %s over %s", m.Dir, site, strings.Join(f.data, " "))
	if f.saveProbs != "" {
		if err := p.WriteFile(f.saveProbs); err != nil {
			return nil, "", err
		}
	}
	if f.checkpoint != "" {
		if err := c.Save(f.checkpoint, fp); err != nil {
			return nil, "", err
		}
	}
	return p, source, nil
}

// countProbsBeam counts on a Beam runner (distributed.CountPipeline): the documents are split
// over --shards shards, the integer counts merged exactly; the probabilities are written to
// --save-probs (or a temporary file) at the end and read back.
func countProbsBeam(cmd *cobra.Command, f *countFlags, d language.Data, groups []string, site hooks.Site, ctx int, modelDir string) (*language.Probabilities, string, error) {
	b := &f.beam
	if !slices.Contains(distributed.Runners, b.runner) {
		return nil, "", usagef("--runner %q: want one of %s", b.runner, strings.Join(distributed.Runners, ", "))
	}
	if b.runner == "universal" && b.endpoint == "" {
		return nil, "", usagef("--runner universal needs --endpoint HOST:PORT (the job server)")
	}
	if f.checkpoint != "" || f.resume || b.shards < 1 {
		return nil, "", usagef("with --runner: --shards ≥ 1, and no --checkpoint/--resume (a pipeline writes only at the end; rerun it)")
	}
	out := f.saveProbs
	if out == "" {
		tmp, err := os.MkdirTemp("", "neuronscope-probs-")
		if err != nil {
			return nil, "", err
		}
		defer os.RemoveAll(tmp)
		out = filepath.Join(tmp, "probs.safetensors")
	}
	out, _ = filepath.Abs(out)
	if b.workerModel != "" {
		modelDir = b.workerModel
	}
	d.Groups = groups
	if len(d.Files) > 0 {
		d.Groups = nil
	}
	job := distributed.CountJob{ModelDir: modelDir, Data: d, Groups: groups, BOS: f.bos, Tap: site.String(), Ctx: ctx, Batch: f.batch,
		Response: f.response, Shards: b.shards, Out: out}
	pipe, err := distributed.CountPipeline(job)
	if err != nil {
		return nil, "", err
	}
	runCtx := cmd.Context()
	if runCtx == nil {
		runCtx = context.Background()
	}
	err = distributed.Run(runCtx, pipe, distributed.Runner{Name: b.runner, Endpoint: b.endpoint, EnvironmentType: b.envType,
		EnvironmentConfig: b.envConfig, Verbose: b.verbose})
	if err != nil {
		return nil, "", fmt.Errorf("the %s pipeline failed (no outputs were written): %v", b.runner, err)
	}
	p, err := language.ReadProbabilities(out)
	if err != nil {
		return nil, "", err
	}
	return p, fmt.Sprintf("counted on %s: %s at %s over %s", b.runner, modelDir, site, strings.Join(f.data, " ")), nil
}

func sum64(v []int64) int64 {
	var s int64
	for _, x := range v {
		s += x
	}
	return s
}

// countFingerprint identifies a counting pass's settings and data (file contents by sha256).
func countFingerprint(f *countFlags, d language.Data, groups []string, site hooks.Site, ctx int, configHash string) string {
	files := map[string]string{}
	paths := []string{d.Keyed}
	for _, gf := range d.Files {
		paths = append(paths, gf.Path)
	}
	for _, p := range paths {
		if p != "" {
			sum, _ := fileSHA256(p)
			files[p] = sum
		}
	}
	js, _ := json.Marshal(struct {
		Groups                   []string
		Files                    map[string]string
		Data                     []string
		Key, Tap, BOS, PrefixKey string
		Ctx, Batch               int
		Response                 bool
		Config                   string
	}{groups, files, f.data, f.groupKey, site.String(), f.bos, f.prefixKey, ctx, f.batch, f.response, configHash})
	return fmt.Sprintf("%x", sha256.Sum256(js))
}
