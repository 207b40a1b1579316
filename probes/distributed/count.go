package distributed

import (
	"context"
	"fmt"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/probes/language"
)

// CountJob is everything the workers of an activation-counting pipeline need (JSON, with the
// pipeline): the per-group data (paths every worker sees), the tap and the pass's settings.
type CountJob struct {
	ModelDir string
	// Data describes the groups' documents; for a keyed file Data.Groups must be set (the
	// launcher resolves them), so that every worker numbers the groups alike.
	Data       language.Data
	Groups     []string
	BOS        string
	Tap        string
	Ctx, Batch int
	Response   bool
	// Shards is the number of shards: document i goes to shard i mod Shards.
	Shards int
	// Out is the activation-probability file written at the end (atomically).
	Out string
}

// countFn counts one shard's documents with a model loaded once per worker.
type countFn struct {
	Job   CountJob
	m     *model.Model
	enc   corpus.Encoder
	items language.Items
	site  hooks.Site
}

func (f *countFn) Setup() error {
	var err error
	if f.m, err = loadModel(f.Job.ModelDir); err != nil {
		return err
	}
	if f.enc, err = encoder(f.m, f.Job.BOS); err != nil {
		return err
	}
	if f.site, err = hooks.ParseSite(f.Job.Tap); err != nil {
		return err
	}
	groups, items, err := f.Job.Data.Resolve()
	if err != nil {
		return err
	}
	if fmt.Sprint(groups) != fmt.Sprint(f.Job.Groups) {
		return fmt.Errorf("inconsistent groups: the worker reads %v, the job has %v", groups, f.Job.Groups)
	}
	f.items = items
	return nil
}

func (f *countFn) ProcessElement(ctx context.Context, shard int, emit func([]byte)) error {
	c, err := language.NewCounter(f.Job.Groups, f.site.String(), f.m.Config.NLayers, f.m.Catalog().Width(hooks.At(0, f.site)), f.Job.Response)
	if err != nil {
		return err
	}
	n := int64(max(f.Job.Shards, 1))
	var i int64
	mine := func(yield func(language.Item) error) error {
		return f.items(func(it language.Item) error {
			defer func() { i++ }()
			if i%n != int64(shard) {
				return nil
			}
			return yield(it)
		})
	}
	if err := c.Run(f.m, f.enc, mine, language.PassOptions{Tap: f.site, Ctx: f.Job.Ctx, Batch: f.Job.Batch, PadID: max(f.m.Config.Pad, 0)}); err != nil {
		return fmt.Errorf("count shard %d: %v", shard, err)
	}
	b, err := c.MarshalBinary()
	if err != nil {
		return err
	}
	emit(b)
	return nil
}

// mergeCounts is the CombineFn of partial counts (exact integer sums).
type mergeCounts struct{}

func (mergeCounts) CreateAccumulator() []byte { return nil }

func (mergeCounts) AddInput(acc, in []byte) ([]byte, error) { return mergeEncodedCounts(acc, in) }

func (mergeCounts) MergeAccumulators(a, b []byte) ([]byte, error) { return mergeEncodedCounts(a, b) }

func (mergeCounts) ExtractOutput(acc []byte) []byte { return acc }

func mergeEncodedCounts(a, b []byte) ([]byte, error) {
	if len(a) == 0 {
		return b, nil
	}
	if len(b) == 0 {
		return a, nil
	}
	ca, err := language.UnmarshalCounter(a)
	if err != nil {
		return nil, fmt.Errorf("shard counts: %v", err)
	}
	cb, err := language.UnmarshalCounter(b)
	if err != nil {
		return nil, fmt.Errorf("shard counts: %v", err)
	}
	if err := ca.Merge(cb); err != nil {
		return nil, fmt.Errorf("inconsistent shards: %v", err)
	}
	return ca.MarshalBinary()
}

// writeProbs writes the activation-probability file of the merged counts.
type writeProbs struct {
	Job CountJob
}

func (f *writeProbs) ProcessElement(ctx context.Context, _ []byte, counts func(*[]byte) bool, written func(string)) error {
	var b []byte
	if !counts(&b) {
		return fmt.Errorf("no counts")
	}
	c, err := language.UnmarshalCounter(b)
	if err != nil {
		return err
	}
	p, err := c.Probabilities()
	if err != nil {
		return err
	}
	if err := p.WriteFile(f.Job.Out); err != nil {
		return err
	}
	written(f.Job.Out)
	return nil
}

func init() {
	register.DoFn3x1[context.Context, int, func([]byte), error](&countFn{})
	register.DoFn4x1[context.Context, []byte, func(*[]byte) bool, func(string), error](&writeProbs{})
	register.Combiner3[[]byte, []byte, []byte](&mergeCounts{})
}

// CountPipeline builds the activation-counting pipeline:
//
//	Create(shards 0..n−1) ─ Reshuffle ─ countFn ─ Combine(mergeCounts) ─┐
//	Impulse ─ writeProbs (merged counts as side input) ─ Out ◄──────────┘
//
// The counts are integers, so the result equals a single process's exactly, however the
// documents are split.
func CountPipeline(job CountJob) (*beam.Pipeline, error) {
	if len(job.Groups) < 2 || job.Out == "" {
		return nil, fmt.Errorf("a counting job needs its groups and an output file")
	}
	p, s := beam.NewPipelineWithRoot()
	shards := make([]any, max(job.Shards, 1))
	for i := range shards {
		shards[i] = i
	}
	counts := beam.ParDo(s.Scope("count"), &countFn{Job: job}, beam.Reshuffle(s, beam.Create(s, shards...)))
	merged := beam.Combine(s.Scope("merge"), &mergeCounts{}, counts)
	finish(s, beam.ParDo(s.Scope("write"), &writeProbs{Job: job}, beam.Impulse(s), beam.SideInput{Input: merged}))
	return p, nil
}
