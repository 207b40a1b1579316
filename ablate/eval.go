package ablate

import (
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/tensor"
)

// DefaultCacheBytes bounds the residual streams an Eval keeps from its baseline pass to rerun
// only the layers an intervention reaches.
const DefaultCacheBytes = 1 << 30

// EvalOptions configure an Eval. The zero value measures greedy next-token accuracy.
type EvalOptions struct {
	// BatchSize is the number of items per forward pass (0: corpus.DefaultPromptBatch).
	BatchSize int
	// AnswerTokens is the number of tokens generated greedily per question (0: 1); a question
	// is right when the first min(AnswerTokens, len(answer)) generated tokens are a prefix of
	// its answer (corpus.PromptSet.Correct).
	AnswerTokens int
	// LogProb also measures log P(answer | prompt) per question, teacher-forced over every
	// answer token.
	LogProb bool
	// KL also measures KL(P_base ‖ P_edited) of the next-token distribution at the last prompt
	// position of every question (the baseline distributions are kept: questions × vocabulary
	// float32 values).
	KL bool
	// CacheBytes bounds the baseline residual streams kept for reuse (0: DefaultCacheBytes;
	// negative: none, every pass runs from the embeddings).
	CacheBytes int64
	// Workers is the number of interventions RunAll runs at once (0: 1). Each pass also splits
	// its matrix products across cores.
	Workers int
	// Progress, when set, is called after every batch with its number of items (from one
	// goroutine at a time).
	Progress func(items int)
}

// Scores are the per-item results of one pass over an Eval's items.
type Scores struct {
	// Correct says, per question, whether the greedy continuation starts the answer.
	Correct []bool
	// Generated holds each question's greedy tokens (AnswerTokens of them).
	Generated [][]int
	// LogProb is log P(answer | prompt) per question (EvalOptions.LogProb).
	LogProb []float64
	// KL is KL(P_base ‖ P) at each question's last prompt position (EvalOptions.KL); 0 in
	// the baseline.
	KL []float64
	// NLL is, per text, the summed negative log-likelihood of its tokens after the first, and
	// Tokens how many that is.
	NLL    []float64
	Tokens []int
}

// Eval measures interventions on fixed items, fact questions and/or labelled texts: it runs
// the unedited model once (the baseline) and then each intervention in exactly the same
// batches (corpus.PromptBatches: items ordered by length, left-padded), so that results
// compare item by item and the unedited computation is never repeated. The baseline keeps
// each batch's hook_resid_pre at the layers registered with Reuse (within CacheBytes); an
// intervention whose lowest layer is l then reruns only layers ≥ l (model.ForwardFrom), with
// logits identical to a full pass.
type Eval struct {
	Model     *model.Model
	Questions *corpus.PromptSet
	Texts     *TextSet

	opt      EvalOptions
	once     sync.Once
	baseErr  error
	base     *Scores
	reuse    map[int]bool
	passes   []*pass
	progress sync.Mutex
}

// pass is one kind of forward pass over items, in fixed batches.
type pass struct {
	kind    passKind
	batches []*Batch
	cache   map[int][]*tensor.Tensor // layer → per batch hook_resid_pre
	baseLP  [][]float32              // question → baseline log-probabilities at the last prompt position (KL)
}

type passKind int

const (
	promptPass   passKind = iota // questions' prompts: next-token prediction, KL, single-token log-probs
	answerPass                   // prompts + answer tokens but the last: teacher-forced log-probs
	generatePass                 // prompts, then AnswerTokens−1 greedy steps with a KV cache
	textPass                     // texts: NLL
)

// NewEval prepares the evaluation of questions and/or texts (either may be nil, not both).
func NewEval(m *model.Model, questions *corpus.PromptSet, texts *TextSet, opt EvalOptions) (*Eval, error) {
	if (questions == nil || len(questions.Items) == 0) && (texts == nil || len(texts.Items) == 0) {
		return nil, fmt.Errorf("nothing to evaluate: give fact questions or texts")
	}
	if opt.AnswerTokens <= 0 {
		opt.AnswerTokens = 1
	}
	if opt.CacheBytes == 0 {
		opt.CacheBytes = DefaultCacheBytes
	}
	if opt.Workers <= 0 {
		opt.Workers = 1
	}
	e := &Eval{Model: m, Questions: questions, Texts: texts, opt: opt, reuse: map[int]bool{}}
	maxPos := m.Config.MaxPos
	if questions != nil && len(questions.Items) > 0 {
		prompts := questions.Prompts()
		for i, p := range prompts {
			if len(p)+opt.AnswerTokens-1 > maxPos {
				return nil, fmt.Errorf("%s: question %d (%s) has %d tokens, and generating %d more exceeds the model's %d positions",
					questions.Source, i, questions.Items[i].ID, len(p), opt.AnswerTokens-1, maxPos)
			}
		}
		kind := promptPass
		if opt.AnswerTokens > 1 {
			kind = generatePass
		}
		e.passes = append(e.passes, &pass{kind: kind, batches: batches(prompts, nil, opt.BatchSize)})
		multi := false
		for _, it := range questions.Items {
			multi = multi || len(it.AnswerIDs) > 1
		}
		if opt.LogProb && multi {
			seqs := make([][]int, len(prompts))
			pl := make([]int, len(prompts))
			for i, it := range questions.Items {
				seqs[i] = append(slices.Clip(it.IDs), it.AnswerIDs[:len(it.AnswerIDs)-1]...)
				pl[i] = len(it.IDs)
				if len(seqs[i]) > maxPos {
					return nil, fmt.Errorf("%s: question %d (%s) and its answer have %d tokens, more than the model's %d positions",
						questions.Source, i, it.ID, len(seqs[i]), maxPos)
				}
			}
			e.passes = append(e.passes, &pass{kind: answerPass, batches: batches(seqs, pl, opt.BatchSize)})
		}
	}
	if texts != nil && len(texts.Items) > 0 {
		seqs := texts.Seqs()
		for i, s := range seqs {
			if len(s) > maxPos {
				return nil, fmt.Errorf("%s: text %d has %d tokens, more than the model's %d positions", texts.Source, i, len(s), maxPos)
			}
		}
		tb := batches(seqs, nil, opt.BatchSize)
		for _, b := range tb {
			b.Texts = true
		}
		e.passes = append(e.passes, &pass{kind: textPass, batches: tb})
	}
	return e, nil
}

// Options returns the options in effect.
func (e *Eval) Options() EvalOptions { return e.opt }

// Rows is the number of batch rows one run (Run, or each intervention of RunAll) goes
// through: the unit of the Progress callback.
func (e *Eval) Rows() int {
	n := 0
	for _, p := range e.passes {
		for _, b := range p.batches {
			n += b.Size
		}
	}
	return n
}

// Reuse asks the baseline to keep the residual stream where the interventions' lowest layers
// are, so they rerun only what they can change. Call it before the baseline runs (Baseline,
// Run or RunAll); later calls have no effect.
func (e *Eval) Reuse(ivs ...Intervention) {
	for _, iv := range ivs {
		if l := FirstLayer(iv); l > 0 {
			e.reuse[l] = true
		}
	}
}

// batches splits seqs into PromptBatches, left-padded with pad id 0 (as corpus.Next), with
// each row's item, length and prompt length (promptLens nil: the whole sequence).
func batches(seqs [][]int, promptLens []int, size int) []*Batch {
	var out []*Batch
	for _, rows := range corpus.PromptBatches(seqs, size) {
		s := make([][]int, len(rows))
		b := &Batch{Items: rows, Lens: make([]int, len(rows)), PromptLens: make([]int, len(rows))}
		for k, i := range rows {
			s[k] = seqs[i]
			b.Lens[k] = len(seqs[i])
			b.PromptLens[k] = len(seqs[i])
			if promptLens != nil {
				b.PromptLens[k] = promptLens[i]
			}
		}
		mb, err := model.NewBatch(s, model.PadLeft, 0)
		if err != nil {
			panic(fmt.Sprintf("ablate: batch of checked sequences: %v", err)) // sequences are checked non-empty by their readers
		}
		b.Batch = mb
		out = append(out, b)
	}
	return out
}

// forEachBatch runs fn on the batches of seqs (see batches).
func forEachBatch(seqs [][]int, promptLens []int, size int, fn func(b *Batch) error) error {
	if len(seqs) == 0 {
		return fmt.Errorf("no prompts")
	}
	for i, s := range seqs {
		if len(s) == 0 {
			return fmt.Errorf("prompt %d is empty", i)
		}
	}
	for _, b := range batches(seqs, promptLens, size) {
		if err := fn(b); err != nil {
			return err
		}
	}
	return nil
}

// Baseline returns the unedited scores, running the baseline pass the first time.
func (e *Eval) Baseline() (*Scores, error) {
	e.once.Do(func() { e.base, e.baseErr = e.run(nil, true) })
	return e.base, e.baseErr
}

// Run runs one intervention over every item.
func (e *Eval) Run(iv Intervention) (*Scores, error) {
	if _, err := e.Baseline(); err != nil {
		return nil, err
	}
	return e.run(iv, false)
}

// RunAll runs several interventions, up to Workers at a time, and returns their scores in
// order. The results do not depend on Workers.
func (e *Eval) RunAll(ivs []Intervention) ([]*Scores, error) {
	if _, err := e.Baseline(); err != nil {
		return nil, err
	}
	out := make([]*Scores, len(ivs))
	errs := make([]error, len(ivs))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(e.opt.Workers, len(ivs)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i], errs[i] = e.run(ivs[i], false)
			}
		}()
	}
	for i := range ivs {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// run makes one pass of every kind; base marks the baseline pass.
func (e *Eval) run(iv Intervention, base bool) (*Scores, error) {
	s := &Scores{}
	if e.Questions != nil {
		n := len(e.Questions.Items)
		s.Correct, s.Generated = make([]bool, n), make([][]int, n)
		if e.opt.LogProb {
			s.LogProb = make([]float64, n)
		}
		if e.opt.KL {
			s.KL = make([]float64, n)
		}
	}
	if e.Texts != nil {
		s.NLL, s.Tokens = make([]float64, len(e.Texts.Items)), make([]int, len(e.Texts.Items))
	}
	if iv != nil {
		if err := checkPoints(e.Model.Catalog(), iv.Points()); err != nil {
			return nil, fmt.Errorf("%s: %v", iv, err)
		}
	}
	for _, p := range e.passes {
		if base {
			p.prepareBase(e)
		}
		for bi, b := range p.batches {
			if err := e.batch(p, bi, b, iv, s, base); err != nil {
				return nil, err
			}
			if e.opt.Progress != nil {
				e.progress.Lock()
				e.opt.Progress(b.Size)
				e.progress.Unlock()
			}
		}
	}
	if e.Questions != nil {
		s.Correct = e.Questions.Correct(s.Generated)
	}
	return s, nil
}

func checkPoints(cat hooks.Catalog, ps []hooks.Point) error {
	for _, p := range ps {
		if !p.Site.PerLayer() {
			return fmt.Errorf("%s is not a per-layer hook point", p)
		}
		if !cat.Has(p) {
			return fmt.Errorf("this model has no %s", p)
		}
	}
	return nil
}

// prepareBase decides which layers the baseline keeps, within the byte budget.
func (p *pass) prepareBase(e *Eval) {
	if (p.kind == promptPass || p.kind == generatePass) && e.opt.KL {
		p.baseLP = make([][]float32, len(e.Questions.Items))
	}
	if p.kind == generatePass || e.opt.CacheBytes < 0 {
		return
	}
	var layers []int
	for l := range e.reuse {
		layers = append(layers, l)
	}
	slices.Sort(layers)
	rows := 0
	for _, b := range p.batches {
		rows += b.Size * b.Len
	}
	per := int64(rows) * int64(e.Model.Config.DModel) * 4
	budget := e.opt.CacheBytes
	p.cache = map[int][]*tensor.Tensor{}
	for _, l := range layers {
		if budget < per {
			break
		}
		budget -= per
		p.cache[l] = make([]*tensor.Tensor, len(p.batches))
	}
}

// start picks the cached layer to start an intervention from: the highest at or below its
// lowest layer.
func (p *pass) start(bi int, iv Intervention) model.Start {
	if iv == nil || p.cache == nil {
		return model.Start{}
	}
	first := FirstLayer(iv)
	best := -1
	for l := range p.cache {
		if l <= first && l > best {
			best = l
		}
	}
	if best < 0 {
		return model.Start{}
	}
	return model.Start{Layer: best, Resid: p.cache[best][bi]}
}

// batch runs one batch of a pass.
func (e *Eval) batch(p *pass, bi int, b *Batch, iv Intervention, s *Scores, base bool) error {
	m := e.Model
	var opts []hooks.Option
	if iv != nil {
		o, err := iv.Hooks(b)
		if err != nil {
			return err
		}
		opts = o
	}
	if p.kind == generatePass {
		return e.generate(p, b, iv, opts, s, base)
	}
	if base {
		for l := range p.cache {
			opts = append(opts, hooks.CapturePoints(hooks.At(l, hooks.ResidPre)))
		}
	}
	res, err := m.ForwardFrom(p.start(bi, iv), b.Batch, opts...)
	if err != nil {
		return err
	}
	if base {
		for l := range p.cache {
			p.cache[l][bi], _ = res.Cache.Get(hooks.At(l, hooks.ResidPre))
		}
	}
	V := m.Config.DVocab
	logits := res.Logits.Data
	switch p.kind {
	case promptPass:
		for r, i := range b.Items {
			row := logits[((r+1)*b.Len-1)*V:][:V]
			e.lastPosition(p, i, row, s, base)
			s.Generated[i] = []int{model.Argmax(row)}
		}
	case answerPass:
		for r, i := range b.Items {
			ans := e.Questions.Items[i].AnswerIDs
			first := b.first(r)
			var lp float64
			for t, a := range ans {
				row := logits[(r*b.Len+first+b.PromptLens[r]-1+t)*V:][:V]
				lp += logProb(row, a)
			}
			s.LogProb[i] = lp
		}
	case textPass:
		for r, i := range b.Items {
			first := b.first(r)
			var nll float64
			for t := first; t < b.Len-1; t++ {
				nll -= logProb(logits[(r*b.Len+t)*V:][:V], b.IDs[r*b.Len+t+1])
			}
			s.NLL[i], s.Tokens[i] = nll, b.Lens[r]-1
		}
	}
	return nil
}

// lastPosition records what the last prompt position's logits give: KL to the baseline, and
// the log-probability of a one-token answer.
func (e *Eval) lastPosition(p *pass, i int, row []float32, s *Scores, base bool) {
	if e.opt.KL {
		lp := logSoftmax(row)
		if base {
			p.baseLP[i] = lp
		} else {
			s.KL[i] = kl(p.baseLP[i], lp)
		}
	}
	if e.opt.LogProb {
		if ans := e.Questions.Items[i].AnswerIDs; len(ans) == 1 {
			s.LogProb[i] = logProb(row, ans[0])
		}
	}
}

// generate runs a batch's prompt and AnswerTokens−1 greedy steps with a KV cache (as
// model.Generate), the intervention's edits at every step.
func (e *Eval) generate(p *pass, b *Batch, iv Intervention, opts []hooks.Option, s *Scores, base bool) error {
	m := e.Model
	k := e.opt.AnswerTokens
	kv := m.NewKVCache(b.Size, b.Len+k-1)
	res, err := m.ForwardKV(b.Batch, kv, opts...)
	if err != nil {
		return err
	}
	V := m.Config.DVocab
	for r, i := range b.Items {
		row := res.Logits.Data[((r+1)*b.Len-1)*V:][:V]
		e.lastPosition(p, i, row, s, base)
		s.Generated[i] = []int{model.Argmax(row)}
	}
	for step := 1; step < k; step++ {
		sb := &Batch{Batch: model.Batch{Size: b.Size, Len: 1, IDs: make([]int, b.Size), Mask: make([]bool, b.Size)},
			Items: b.Items, Lens: b.Lens, PromptLens: b.PromptLens, Past: b.Len + step - 1}
		for r, i := range b.Items {
			sb.IDs[r], sb.Mask[r] = s.Generated[i][step-1], true
		}
		var o []hooks.Option
		if iv != nil {
			if o, err = iv.Hooks(sb); err != nil {
				return err
			}
		}
		res, err := m.ForwardKV(sb.Batch, kv, o...)
		if err != nil {
			return err
		}
		for r, i := range b.Items {
			s.Generated[i] = append(s.Generated[i], model.Argmax(res.Logits.Data[r*V:][:V]))
		}
	}
	return nil
}

// logSumExp is log Σ exp(row) in float64, computed from the row's maximum.
func logSumExp(row []float32) float64 {
	mx := row[0]
	for _, x := range row {
		mx = max(mx, x)
	}
	var z float64
	for _, x := range row {
		z += math.Exp(float64(x - mx))
	}
	return float64(mx) + math.Log(z)
}

// logSoftmax returns log-probabilities of logits (float64 sums, float32 results).
func logSoftmax(row []float32) []float32 {
	lz := logSumExp(row)
	out := make([]float32, len(row))
	for i, x := range row {
		out[i] = float32(float64(x) - lz)
	}
	return out
}

// logProb is log softmax(row)[tok] in float64.
func logProb(row []float32, tok int) float64 { return float64(row[tok]) - logSumExp(row) }

// kl is KL(p ‖ q) = Σ p (log p − log q) for log-probabilities lp and lq.
func kl(lp, lq []float32) float64 {
	var s float64
	for i, a := range lp {
		if pa := math.Exp(float64(a)); pa > 0 {
			s += pa * (float64(a) - float64(lq[i]))
		}
	}
	return max(s, 0)
}
