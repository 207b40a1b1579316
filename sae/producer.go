package sae

import (
	"fmt"
	"io"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/tensor"
)

// ModelProducer runs a model over token sequences, BatchSize sequences per forward pass, and
// produces the activations of their real tokens at one or more hook points: row t of the
// output is token t (sequence by sequence, position by position), with the points' values
// side by side, so SAEs for several taps train from one pass (TrainConfig.Column). It is a
// RowProducer and a RowSeeker: seeking skips whole sequences without running the model, so a
// ShuffleBuffer over it can be checkpointed and resumed.
//
//	p, _ := sae.NewModelProducer(m, []hooks.Point{hooks.At(3, hooks.MLPPost)}, seqs, 32)
//	buf, _ := sae.NewShuffleBuffer(p, 1<<16, seed)   // bounded, filled in the background
//	err := sae.Train(buf, trainers, sae.RunOptions{...})
type ModelProducer struct {
	m         *model.Model
	points    []hooks.Point
	widths    []int
	width     int
	seqs      [][]int
	batch     int
	padID     int
	dropFirst bool
	drop      []int // leading positions of each sequence to drop (SetDropLeading), or nil
	Loop      bool  // start again at the first sequence after the last

	next    int       // next sequence to run
	pending []float32 // rows of the last batch not yet produced
	skip    int       // rows of the next batch to discard (after a seek)
}

// NewModelProducer checks the points against m's catalog and the token ids against its
// vocabulary. DropFirst (SetDropFirst) drops every sequence's first token.
func NewModelProducer(m *model.Model, points []hooks.Point, seqs [][]int, batchSize int) (*ModelProducer, error) {
	if len(points) == 0 {
		return nil, fmt.Errorf("sae: no hook points to read")
	}
	if batchSize < 1 {
		return nil, fmt.Errorf("sae: batch size %d: want ≥ 1", batchSize)
	}
	p := &ModelProducer{m: m, points: points, seqs: seqs, batch: batchSize, padID: max(m.Config.Pad, 0)}
	cat := m.Catalog()
	for _, pt := range points {
		w := cat.Width(pt)
		if w == 0 {
			return nil, fmt.Errorf("sae: hook %s does not exist in this model", pt)
		}
		p.widths = append(p.widths, w)
		p.width += w
	}
	for i, s := range seqs {
		if len(s) == 0 {
			return nil, fmt.Errorf("sae: sequence %d is empty", i)
		}
		if len(s) > m.Config.MaxPos {
			return nil, fmt.Errorf("sae: sequence %d has %d tokens, more than the model's %d positions", i, len(s), m.Config.MaxPos)
		}
		for _, id := range s {
			if id < 0 || id >= m.Config.DVocab {
				return nil, fmt.Errorf("sae: sequence %d has token %d outside the vocabulary (%d)", i, id, m.Config.DVocab)
			}
		}
	}
	return p, nil
}

// SetDropFirst drops (or keeps) the first token of every sequence, usually the BOS.
func (p *ModelProducer) SetDropFirst(drop bool) { p.dropFirst = drop; p.drop = nil }

// SetDropLeading drops the first counts[i] tokens of sequence i (e.g. its leading BOS
// positions, corpus.Context.BOS: 0 for a context without one), replacing SetDropFirst. The
// model still sees them; they only produce no rows. It returns an error when the counts do not
// match the sequences or would drop a whole sequence.
func (p *ModelProducer) SetDropLeading(counts []int) error {
	if len(counts) != len(p.seqs) {
		return fmt.Errorf("sae: %d leading-token counts for %d sequences", len(counts), len(p.seqs))
	}
	for i, c := range counts {
		if c < 0 || c >= len(p.seqs[i]) {
			return fmt.Errorf("sae: dropping %d leading tokens of sequence %d, which has %d", c, i, len(p.seqs[i]))
		}
	}
	p.drop, p.dropFirst = counts, false
	return nil
}

// leading is the number of leading tokens sequence i does not produce.
func (p *ModelProducer) leading(i int) int {
	switch {
	case p.drop != nil:
		return p.drop[i]
	case p.dropFirst:
		return 1
	}
	return 0
}

// Width is the summed width of the points.
func (p *ModelProducer) Width() int { return p.width }

// rowsOf is the number of rows sequence i contributes.
func (p *ModelProducer) rowsOf(i int) int { return len(p.seqs[i]) - p.leading(i) }

// Produce writes the next rows.
func (p *ModelProducer) Produce(dst []float32) (int, error) {
	w := p.width
	k := 0
	for k < len(dst)/w {
		if len(p.pending) == 0 {
			if p.next == len(p.seqs) {
				if !p.Loop || len(p.seqs) == 0 {
					break
				}
				p.next = 0
			}
			if err := p.runBatch(); err != nil {
				return k, err
			}
			continue
		}
		n := min(len(p.pending)/w, len(dst)/w-k)
		copy(dst[k*w:], p.pending[:n*w])
		p.pending = p.pending[n*w:]
		k += n
	}
	if k == 0 && len(dst) >= w {
		return 0, io.EOF
	}
	return k, nil
}

func (p *ModelProducer) runBatch() error {
	lo, hi := p.next, min(p.next+p.batch, len(p.seqs))
	b, err := model.NewBatch(p.seqs[lo:hi], model.PadRight, p.padID)
	if err != nil {
		return fmt.Errorf("sae: sequences %d..%d: %w", lo, hi-1, err)
	}
	rows := 0
	for i := lo; i < hi; i++ {
		rows += p.rowsOf(i)
	}
	out := make([]float32, rows*p.width)
	var opts []hooks.Option
	col := 0
	for pi, pt := range p.points {
		w, c := p.widths[pi], col
		opts = append(opts, hooks.ObservePoint(pt, func(_ hooks.Point, act *tensor.Tensor) error {
			r := 0
			for s := range b.Size {
				skip := p.leading(lo + s)
				for q := range b.Len {
					i := s*b.Len + q
					if !b.Mask[i] {
						continue
					}
					if skip > 0 {
						skip--
						continue
					}
					copy(out[r*p.width+c:r*p.width+c+w], act.Data[i*w:(i+1)*w])
					r++
				}
			}
			return nil
		}))
		col += w
	}
	if _, err := p.m.Forward(b, opts...); err != nil {
		return fmt.Errorf("sae: sequences %d..%d: %w", lo, hi-1, err)
	}
	p.next = hi
	p.pending = out[p.skip*p.width:]
	p.skip = 0
	return nil
}

// SeekRow restarts at row n (counted from the first sequence; modulo one pass when looping).
func (p *ModelProducer) SeekRow(n int64) error {
	if n < 0 {
		return fmt.Errorf("sae: seek to row %d", n)
	}
	var total int64
	for i := range p.seqs {
		total += int64(p.rowsOf(i))
	}
	if p.Loop && total > 0 {
		n %= total
	} else if n > total {
		return fmt.Errorf("sae: seek to row %d past the end (%d rows)", n, total)
	}
	// Find the batch holding row n: batches start at multiples of BatchSize sequences.
	p.pending, p.skip = nil, 0
	var at int64
	for lo := 0; lo < len(p.seqs); lo += p.batch {
		var rows int64
		for i := lo; i < min(lo+p.batch, len(p.seqs)); i++ {
			rows += int64(p.rowsOf(i))
		}
		if at+rows > n {
			p.next, p.skip = lo, int(n-at)
			return nil
		}
		at += rows
	}
	p.next = len(p.seqs)
	return nil
}
