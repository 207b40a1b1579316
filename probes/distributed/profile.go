package distributed

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/report"
	"github.com/neuronscope/neuronscope/model/tokenizer"
	"github.com/neuronscope/neuronscope/probes/profile"
)

// ProfileJob is everything the workers of a profiling pipeline need: it travels with the
// pipeline (JSON), so every path in it must be one that every worker sees.
type ProfileJob struct {
	// ModelDir is the checkpoint directory as the workers see it (a shared filesystem or a
	// bucket mounted at the same path on every worker).
	ModelDir string
	// Plan numbers the contexts (NewPlan); its files are read by the workers.
	Plan *Plan
	// BOS is the BOS policy (auto, always, never).
	BOS string
	// Batch is the number of contexts per forward pass, as in a single-process run.
	Batch int
	// Points are the profiled hook points (names), Options the profiler's options.
	Points  []string
	Options profile.Options
	// Shards is the number of shards after the calibration prefix.
	Shards int
	// Out is the output directory (every worker that may run the final step sees it).
	Out string
	// Staging is a directory every worker sees where shard and merged states are kept as
	// files (the pipeline moves only their names); NewStaging makes one beside Out. The final
	// step removes it.
	Staging string
	// LMHead and DLA are the vocabulary-projection sizes (0: none), as the profile command's.
	LMHead, DLA int
	// Settings and Provenance go into profile.json as they are (the launcher fills them as a
	// single-process run would); the model facts of Provenance come from the launcher's model.
	Settings   profile.Settings
	Provenance report.Provenance
	// FailShard, if > 0, makes that shard fail (tests of an interrupted job).
	FailShard int
}

// models caches one loaded model per directory per worker process: DoFn instances of every
// bundle share it (Forward keeps its state per call).
var models struct {
	sync.Mutex
	m map[string]*model.Model
}

// loadModel loads dir once per process; the error names the worker's host and path.
func loadModel(dir string) (*model.Model, error) {
	models.Lock()
	defer models.Unlock()
	if m := models.m[dir]; m != nil {
		return m, nil
	}
	m, err := model.Load(dir)
	if err != nil {
		host, _ := os.Hostname()
		return nil, fmt.Errorf("worker %s cannot load the model from %s (the model directory must be a path every worker sees): %v", host, dir, err)
	}
	if models.m == nil {
		models.m = map[string]*model.Model{}
	}
	models.m[dir] = m
	return m, nil
}

// compute lets one shard at a time run forwards in a worker process: a forward already keeps
// every core of the worker busy (row-split GEMM, the profiler's per-neuron workers), and two
// at once in one process only compete (measured on Prism's loopback workers, 2 cores: two
// concurrent shards ran at half the single process's rate). A runner that starts one process
// per worker (Flink, Dataflow) still profiles one shard per worker in parallel.
var compute sync.Mutex

// encoder is the job's tokenizer and BOS policy for a loaded model.
func encoder(m *model.Model, bos string) (corpus.Encoder, error) {
	policy, err := tokenizer.ParseBOSPolicy(bos)
	if err != nil {
		return corpus.Encoder{}, err
	}
	tok, err := corpus.LoadTokenizer(m)
	if err != nil {
		return corpus.Encoder{}, err
	}
	return corpus.NewEncoder(m, tok, policy), nil
}

func (j *ProfileJob) points() ([]hooks.Point, error) {
	out := make([]hooks.Point, len(j.Points))
	for i, n := range j.Points {
		p, err := hooks.Parse(n)
		if err != nil {
			return nil, err
		}
		out[i] = p
	}
	return out, nil
}

// shardFn profiles one shard of contexts with a model loaded once per worker (Setup) and emits
// its state split by hook point, keyed "ORDINAL HOOK" (the ordinal keeps the single process's
// order of hook points). The calibration shard (ID 0) also emits its calibration.
type shardFn struct {
	Job ProfileJob
	m   *model.Model
	enc corpus.Encoder
	pts []hooks.Point
}

func (f *shardFn) Setup() error {
	var err error
	if f.m, err = loadModel(f.Job.ModelDir); err != nil {
		return err
	}
	if f.enc, err = encoder(f.m, f.Job.BOS); err != nil {
		return err
	}
	f.pts, err = f.Job.points()
	return err
}

// run profiles the shard's contexts into p.
func (f *shardFn) run(s Shard, p *profile.Profiler) error {
	if f.Job.FailShard > 0 && s.ID == f.Job.FailShard {
		return fmt.Errorf("shard %d: failing as asked (FailShard)", s.ID)
	}
	contexts := func(yield func(corpus.Context) error) error {
		return f.Job.Plan.Range(f.enc, s.Lo, s.Hi, yield)
	}
	compute.Lock() // one shard's forwards at a time per worker process (see compute)
	defer compute.Unlock()
	if err := p.Run(f.m, f.pts, contexts, profile.RunOptions{Batch: f.Job.Batch, PadID: max(f.m.Config.Pad, 0)}); err != nil {
		return fmt.Errorf("shard %d [%d, %d): %v", s.ID, s.Lo, s.Hi, err)
	}
	if got := p.Contexts; got != s.Hi-s.Lo {
		return fmt.Errorf("shard %d [%d, %d): %d contexts read (the data changed since planning?)", s.ID, s.Lo, s.Hi, got)
	}
	return nil
}

// saveLayers writes the shard's state, one file per hook point, into the staging directory
// (atomically: temp file and rename, so a retried shard rewrites the same file) and emits
// each file's name keyed "ORDINAL HOOK".
func (f *shardFn) saveLayers(s Shard, p *profile.Profiler, emit func(string, string)) error {
	for i, l := range p.Layers {
		part := &profile.Profiler{Opt: p.Opt, Layers: []*profile.Layer{l}, Tokens: p.Tokens, Contexts: p.Contexts, Batches: p.Batches, BinFrom: p.BinFrom, BOSExcluded: p.BOSExcluded}
		path := filepath.Join(f.Job.Staging, fmt.Sprintf("shard-%d-point-%d.state", s.ID, i))
		if err := part.Save(path, ""); err != nil {
			return err
		}
		emit(fmt.Sprintf("%04d %s", i, l.Hook), path)
	}
	return nil
}

// calibFn profiles the calibration shard and hands each later shard the calibration.
type calibFn struct {
	shardFn
	// Rest are the shards after the calibration prefix.
	Rest []Shard
}

func (f *calibFn) ProcessElement(ctx context.Context, s Shard, emit func(string, string), emitRest func(calibrated)) error {
	p := profile.New(f.Job.Options)
	if err := f.run(s, p); err != nil {
		return err
	}
	if len(f.Rest) > 0 {
		cal, err := p.Calibration(s.Hi)
		if err != nil {
			return err
		}
		b, err := cal.MarshalBinary()
		if err != nil {
			return err
		}
		for _, r := range f.Rest {
			emitRest(calibrated{Shard: r, Calibration: b})
		}
	}
	return f.saveLayers(s, p, emit)
}

// calibrated is a shard after the calibration prefix with the calibration it starts from. The
// calibration travels with each shard rather than as a side input: in Prism (Beam 2.77) a
// bundle of a step with a side input keeps the runner's watermark loop busy on one core for as
// long as it runs (measured: 2 shards sleeping 4 s each cost 1.1–2.2 CPU-seconds with a side
// input, 0.05 without), and on a 2-core machine that core is taken from the forwards.
type calibrated struct {
	Shard       Shard
	Calibration []byte
}

// restFn profiles a shard after the calibration prefix, seeded with its calibration.
type restFn struct{ shardFn }

func (f *restFn) ProcessElement(ctx context.Context, c calibrated, emit func(string, string)) error {
	s := c.Shard
	var cal profile.Calibration
	if err := cal.UnmarshalBinary(c.Calibration); err != nil {
		return fmt.Errorf("shard %d: %v", s.ID, err)
	}
	if cal.Opt != f.Job.Options.Defaults() {
		return fmt.Errorf("shard %d: the calibration has options %+v, the job %+v", s.ID, cal.Opt, f.Job.Options.Defaults())
	}
	p := profile.NewShard(&cal)
	if err := f.run(s, p); err != nil {
		return err
	}
	return f.saveLayers(s, p, emit)
}

// mergeStates is the CombineFn of shard states of one hook point. Its accumulator is the name
// of a state file in the staging directory; merging two loads both (profile.Load), merges them
// (profile.Merge) and writes the result to a new file. A merge holds two states of one hook
// point in memory: O(neurons × (k + bins) × window), whatever the data's size.
type mergeStates struct {
	Staging string
}

func (mergeStates) CreateAccumulator() string { return "" }

func (f mergeStates) AddInput(acc, in string) (string, error) { return f.merge(acc, in) }

func (f mergeStates) MergeAccumulators(a, b string) (string, error) { return f.merge(a, b) }

func (mergeStates) ExtractOutput(acc string) string { return acc }

func (f mergeStates) merge(a, b string) (string, error) {
	if a == "" {
		return b, nil
	}
	if b == "" {
		return a, nil
	}
	pa, err := profile.Load(a, "")
	if err != nil {
		return "", fmt.Errorf("shard state: %v", err)
	}
	pb, err := profile.Load(b, "")
	if err != nil {
		return "", fmt.Errorf("shard state: %v", err)
	}
	if err := pa.Merge(pb); err != nil {
		return "", fmt.Errorf("inconsistent shards: %v", err)
	}
	out, err := os.CreateTemp(f.Staging, "merged-*.state")
	if err != nil {
		return "", err
	}
	out.Close()
	if err := pa.Save(out.Name(), ""); err != nil {
		return "", err
	}
	return out.Name(), nil
}

// mergedState is the merged state file of one hook point, keyed "ORDINAL HOOK".
type mergedState struct{ Key, Path string }

// gatherStates gives every merged state one key, so that the final step reads them all from a
// grouping rather than a side input (see calibrated for why).
func gatherStates(key, path string) (int, mergedState) { return 0, mergedState{key, path} }

// writeFn is the final step: it gathers the merged state of every hook point (grouped under one key),
// checks that they agree, finishes the profile and writes the exports atomically.
type writeFn struct {
	Job ProfileJob
}

func (f *writeFn) ProcessElement(ctx context.Context, _ int, states func(*mergedState) bool, written func(string)) error {
	type part struct {
		key string
		p   *profile.Profiler
	}
	var parts []part
	var st mergedState
	for states(&st) {
		p, err := profile.Load(st.Path, "")
		if err != nil {
			return fmt.Errorf("%s: %v", st.Key, err)
		}
		parts = append(parts, part{st.Key, p})
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].key < parts[j].key })
	if len(parts) != len(f.Job.Points) {
		return fmt.Errorf("inconsistent shards: %d merged hook points, the job profiles %d", len(parts), len(f.Job.Points))
	}
	p := &profile.Profiler{Opt: parts[0].p.Opt, Tokens: parts[0].p.Tokens, Contexts: parts[0].p.Contexts, Batches: parts[0].p.Batches, BOSExcluded: parts[0].p.BOSExcluded}
	for _, pt := range parts {
		if pt.p.Tokens != p.Tokens || pt.p.Contexts != p.Contexts || pt.p.Opt != p.Opt {
			return fmt.Errorf("inconsistent shards: %s has %d tokens in %d contexts, %s %d in %d", pt.key, pt.p.Tokens, pt.p.Contexts, parts[0].key, p.Tokens, p.Contexts)
		}
		p.Layers = append(p.Layers, pt.p.Layers...)
	}
	if p.Contexts != f.Job.Plan.Contexts || p.Tokens != f.Job.Plan.Tokens {
		return fmt.Errorf("inconsistent shards: %d tokens in %d contexts merged, the plan has %d in %d", p.Tokens, p.Contexts, f.Job.Plan.Tokens, f.Job.Plan.Contexts)
	}
	p.Finish()
	m, err := loadModel(f.Job.ModelDir)
	if err != nil {
		return err
	}
	tok, err := corpus.LoadTokenizer(m)
	if err != nil {
		return err
	}
	pts, err := f.Job.points()
	if err != nil {
		return err
	}
	name := profile.TokenNames(tok)
	var heads, dlas map[hooks.Neuron]*profile.TokenLists
	if f.Job.LMHead > 0 {
		if heads, err = profile.VocabTokens(m, pts, f.Job.LMHead, false, name); err != nil {
			return err
		}
	}
	if f.Job.DLA > 0 {
		if dlas, err = profile.VocabTokens(m, pts, f.Job.DLA, true, name); err != nil {
			return err
		}
	}
	decorate := func(nr *profile.NeuronReport) { nr.LMHead, nr.DLA = heads[nr.Neuron], dlas[nr.Neuron] }
	prov := f.Job.Provenance
	set := f.Job.Settings
	prov.Dataset = profile.DatasetNote(set.Data, set.DataSHA256, p.Tokens, p.Contexts, p.Opt.IncludeBOS, p.BOSExcluded)
	err = writeAtomically(f.Job.Out, func(dir string) error {
		return p.WriteExports(dir, prov, set, name, decorate)
	})
	if err != nil {
		return err
	}
	written(f.Job.Out)
	return os.RemoveAll(f.Job.Staging)
}

// NewStaging creates the staging directory of a job writing to out: a fresh directory beside
// it (out's parent must be a path every worker sees).
func NewStaging(out string) (string, error) {
	parent := filepath.Dir(filepath.Clean(out))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", err
	}
	return os.MkdirTemp(parent, "."+filepath.Base(filepath.Clean(out))+".staging-")
}

// RunProfile runs a profiling job (ProfilePipeline) on the runner, giving it a staging
// directory beside job.Out when it has none, and removes the staging directory whatever the
// outcome: a failed job leaves no outputs, and a rerun starts afresh with a new staging
// directory. (A worker still finishing a shard of a failed job may write its state file after
// the removal; such files are never read again.)
func RunProfile(ctx context.Context, job ProfileJob, r Runner) error {
	if job.Staging == "" {
		dir, err := NewStaging(job.Out)
		if err != nil {
			return err
		}
		job.Staging = dir
	}
	defer func() {
		for range 20 { // a bundle of the failed job may still be writing
			if os.RemoveAll(job.Staging) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	pipe, err := ProfilePipeline(job)
	if err != nil {
		return err
	}
	return Run(ctx, pipe, r)
}

// writeAtomically writes outputs into a fresh directory inside out and then renames every
// file into place, profile.json and other top-level files last: an interrupted job leaves
// the previous outputs (or none), never a half-written file.
func writeAtomically(out string, write func(dir string) error) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(out, ".partial-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := write(tmp); err != nil {
		return err
	}
	var files []string
	err = filepath.WalkDir(tmp, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		return err
	}
	// files in subdirectories first, then the top-level ones
	sort.SliceStable(files, func(i, j int) bool {
		return strings.Count(files[i], string(filepath.Separator)) > strings.Count(files[j], string(filepath.Separator))
	})
	for _, f := range files {
		rel, _ := filepath.Rel(tmp, f)
		dst := filepath.Join(out, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.Rename(f, dst); err != nil {
			return err
		}
	}
	return nil
}

func init() {
	register.DoFn4x1[context.Context, Shard, func(string, string), func(calibrated), error](&calibFn{})
	register.DoFn3x1[context.Context, calibrated, func(string, string), error](&restFn{})
	register.Emitter1[calibrated]()
	register.DoFn4x1[context.Context, int, func(*mergedState) bool, func(string), error](&writeFn{})
	register.Function2x2(gatherStates)
	register.Iter1[mergedState]()
	register.Combiner3[string, string, string](&mergeStates{})
	register.Function1x0(doneFn)
	register.Emitter1[string]()
	register.Emitter2[string, string]()
	register.Emitter1[[]byte]()
	register.Iter1[[]byte]()
	beam.RegisterType(reflectTypeOf[Shard]())
	beam.RegisterType(reflectTypeOf[calibrated]())
	beam.RegisterType(reflectTypeOf[mergedState]())
}

// finish ends a pipeline at its writing step's output (the written path): a reshuffle and a
// step that does nothing. A step with no output busy-waits one core in Prism for as long as it
// runs (its stage loop selects on an already closed data channel; Beam 2.77, measured: a DoFn
// sleeping 8 s cost 4–5 CPU-seconds without an output, 0.03 with one), and on a 2-core machine
// that core is taken from the writing of the exports.
func finish(s beam.Scope, written beam.PCollection) {
	beam.ParDo0(s.Scope("done"), doneFn, beam.Reshuffle(s, written))
}

func doneFn(string) {}

// ProfilePipeline builds the profiling pipeline of a planned job:
//
//	Create(shard 0) ─ calibFn ─┬─ states ───────────────────────────────┐
//	                           └─ calibrated shards ─ Reshuffle ─ restFn ┴─ Flatten ─ CombinePerKey(mergeStates) ─┐
//	GroupByKey(one key) ─ writeFn ─ profile.json, neuron_records/, neuronpedia/ ─ Reshuffle ─ done ◄──────────────┘
func ProfilePipeline(job ProfileJob) (*beam.Pipeline, error) {
	if job.Plan == nil || job.Plan.Contexts == 0 {
		return nil, fmt.Errorf("the job has no contexts")
	}
	if job.Staging == "" {
		return nil, fmt.Errorf("the job has no staging directory (NewStaging)")
	}
	prefix := job.Options.CalibrationPrefix(job.Batch)
	shards := job.Plan.Shards(prefix, job.Batch, job.Shards)
	p, s := beam.NewPipelineWithRoot()
	first := beam.Create(s.Scope("calibration"), shards[0])
	states0, rest := beam.ParDo2(s.Scope("calibration"), &calibFn{shardFn: shardFn{Job: job}, Rest: shards[1:]}, first)
	all := []beam.PCollection{states0}
	if len(shards) > 1 {
		all = append(all, beam.ParDo(s.Scope("shards"), &restFn{shardFn{Job: job}}, beam.Reshuffle(s, rest)))
	}
	merged := beam.CombinePerKey(s.Scope("merge"), &mergeStates{Staging: job.Staging}, beam.Flatten(s, all...))
	gathered := beam.GroupByKey(s.Scope("write"), beam.ParDo(s.Scope("write"), gatherStates, merged))
	finish(s, beam.ParDo(s.Scope("write"), &writeFn{Job: job}, gathered))
	return p, nil
}
