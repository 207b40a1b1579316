package sae

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"

	"github.com/neuronscope/neuronscope/model/safetensors"
)

// Batcher fills training batches: Next writes len(dst)/Width() rows of Width() values into
// dst. Its output must be a deterministic function of its construction (data and seed), so
// that training is reproducible.
type Batcher interface {
	Width() int
	Next(dst []float32) error
}

// Resumable is a Batcher that can save and restore its position, so a checkpointed run
// continues on exactly the batches it would have seen. meta is a small JSON document;
// buffered holds rows a buffering batcher keeps (nil otherwise).
type Resumable interface {
	Batcher
	SaveState() (meta []byte, buffered []float32, err error)
	RestoreState(meta []byte, buffered []float32) error
}

// Rows is an in-memory activation matrix: Len() rows of Width values, optionally a subset
// (Index) of the rows of Data. Data may alias a memory-mapped file (OpenActivations).
type Rows struct {
	Data  []float32 // [rows, width], row-major
	W     int       // width (d_in, or several taps side by side)
	Index []int32   // rows of Data in use, in order; nil means all
	Name  string    // where the rows come from, for errors and provenance
}

// NewRows wraps data [n, width] (no copy). It panics if len(data) is not a multiple of width.
func NewRows(data []float32, width int, name string) *Rows {
	if width < 1 || len(data)%width != 0 {
		panic(fmt.Sprintf("sae: %d values are not rows of width %d", len(data), width))
	}
	return &Rows{Data: data, W: width, Name: name}
}

// Width is the number of values per row.
func (r *Rows) Width() int { return r.W }

// Len is the number of rows.
func (r *Rows) Len() int {
	if r.Index != nil {
		return len(r.Index)
	}
	return len(r.Data) / r.W
}

// Row returns row i (aliasing Data).
func (r *Rows) Row(i int) []float32 {
	if r.Index != nil {
		i = int(r.Index[i])
	}
	return r.Data[i*r.W : (i+1)*r.W]
}

// CheckFinite returns an error naming the first row and column holding a NaN or infinity.
func (r *Rows) CheckFinite() error {
	for i := range r.Len() {
		if ok, at := finite(r.Row(i)); !ok {
			return fmt.Errorf("%s: row %d, column %d is not finite", r.Name, i, at)
		}
	}
	return nil
}

// Head copies the first n rows (fewer if there are fewer) into a new [n, width] slice.
func (r *Rows) Head(n int) []float32 {
	n = min(n, r.Len())
	out := make([]float32, 0, n*r.W)
	for i := range n {
		out = append(out, r.Row(i)...)
	}
	return out
}

// Activations is an activation file opened with OpenActivations. Close releases its mapping;
// the rows are invalid afterwards.
type Activations struct {
	*Rows
	// Tensor is the name of the tensor the rows come from.
	Tensor string
	// IDs and Mask are the trace file's input_ids and attention_mask ([batch, pos]), nil for a
	// plain [n, d] file.
	IDs, Mask []int64
	Batch     int // [batch, pos] of a trace file (0 for a plain file)
	Pos       int // positions per sequence of a trace file
	// Metadata is the file's safetensors __metadata__ (trace files carry their provenance
	// under "neuronscope").
	Metadata map[string]string
	file     *safetensors.File
}

// Close unmaps the file.
func (a *Activations) Close() error {
	if a.file == nil {
		return nil
	}
	err := a.file.Close()
	a.file = nil
	return err
}

// ActivationOptions choose what OpenActivations reads.
type ActivationOptions struct {
	// Tensor names the tensor to read; "" picks the only float tensor of a plain file. For a
	// trace file (one with attention_mask) it is the hook name, e.g. "blocks.3.mlp.hook_post".
	Tensor string
	// DropFirst drops the first real token of every sequence of a trace file: the BOS
	// position, whose activations are outliers in most models.
	DropFirst bool
}

// OpenActivations reads activations from a safetensors file: either one float tensor [n, d]
// (one row per token), or `neuronscope trace` output, whose [batch, pos, d] hook tensor is
// chosen with opt.Tensor and whose attention_mask drops pad positions. F32 data is used in
// place (mapped, read-only); F16/BF16/F64 are converted. Errors name the file and tensor.
func OpenActivations(path string, opt ActivationOptions) (_ *Activations, err error) {
	f, err := safetensors.OpenFile(path)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	a := &Activations{file: f, Metadata: f.Metadata()}
	names := f.Names()
	mask, hasMask := f.Tensor("attention_mask")
	name := opt.Tensor
	if name == "" {
		var floats []string
		for _, nm := range names {
			t, _ := f.Tensor(nm)
			if t.DType.IsFloat() && nm != "logits" {
				floats = append(floats, nm)
			}
		}
		if len(floats) != 1 {
			sort.Strings(floats)
			return nil, fmt.Errorf("%s: %d activation tensors (%s): name one (--hook)", path, len(floats), strings.Join(floats, ", "))
		}
		name = floats[0]
	}
	t, ok := f.Tensor(name)
	if !ok {
		sort.Strings(names)
		return nil, fmt.Errorf("%s: no tensor %q (has %s)", path, name, strings.Join(names, ", "))
	}
	if !t.DType.IsFloat() {
		return nil, fmt.Errorf("%s: tensor %q is %s, not a float tensor", path, name, t.DType)
	}
	data, err := t.Float32s()
	if err != nil {
		return nil, fmt.Errorf("%s: tensor %q: %v", path, name, err)
	}
	a.Tensor = name
	switch len(t.Shape) {
	case 2:
		if t.Shape[1] < 1 {
			return nil, fmt.Errorf("%s: tensor %q has shape %v: want [n, d] with d ≥ 1", path, name, t.Shape)
		}
		a.Rows = &Rows{Data: data, W: t.Shape[1], Name: path + ":" + name}
		if opt.DropFirst {
			return nil, fmt.Errorf("%s: dropping the first token needs a trace file with attention_mask; %q is [n, d]", path, name)
		}
	case 3:
		if !hasMask {
			return nil, fmt.Errorf("%s: tensor %q is [batch, pos, d] but the file has no attention_mask to drop pads with", path, name)
		}
		b, p, d := t.Shape[0], t.Shape[1], t.Shape[2]
		if d < 1 {
			return nil, fmt.Errorf("%s: tensor %q has shape %v: want d ≥ 1", path, name, t.Shape)
		}
		if len(mask.Shape) != 2 || mask.Shape[0] != b || mask.Shape[1] != p {
			return nil, fmt.Errorf("%s: attention_mask has shape %v, tensor %q has [batch, pos] = [%d, %d]", path, mask.Shape, name, b, p)
		}
		m, err := int64s(mask)
		if err != nil {
			return nil, fmt.Errorf("%s: attention_mask: %v", path, err)
		}
		a.Mask, a.Batch, a.Pos = m, b, p
		if ids, ok := f.Tensor("input_ids"); ok {
			if a.IDs, err = int64s(ids); err != nil {
				return nil, fmt.Errorf("%s: input_ids: %v", path, err)
			}
			if len(a.IDs) != b*p {
				return nil, fmt.Errorf("%s: input_ids has shape %v, want [%d, %d]", path, ids.Shape, b, p)
			}
		}
		var idx []int32
		for r := range b {
			first := true
			for q := range p {
				if m[r*p+q] == 0 {
					continue
				}
				if first && opt.DropFirst {
					first = false
					continue
				}
				first = false
				idx = append(idx, int32(r*p+q))
			}
		}
		a.Rows = &Rows{Data: data, W: d, Index: idx, Name: path + ":" + name}
	default:
		return nil, fmt.Errorf("%s: tensor %q has shape %v: want [n, d] or [batch, pos, d]", path, name, t.Shape)
	}
	if a.Len() == 0 {
		return nil, fmt.Errorf("%s: tensor %q has no rows (after dropping pads%s)", path, name, map[bool]string{true: " and first tokens"}[opt.DropFirst])
	}
	return a, nil
}

// TraceTokens reads the token sequences of a `neuronscope trace` file: input_ids [batch, pos]
// at the positions attention_mask marks real, row by row (rows without real tokens are
// skipped). Errors name the file.
func TraceTokens(path string) ([][]int, error) {
	f, err := safetensors.OpenFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ids, ok1 := f.Tensor("input_ids")
	mask, ok2 := f.Tensor("attention_mask")
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("%s: no input_ids and attention_mask (not a 'neuronscope trace' file)", path)
	}
	if len(ids.Shape) != 2 || !slices.Equal(ids.Shape, mask.Shape) {
		return nil, fmt.Errorf("%s: input_ids %v and attention_mask %v: want both [batch, pos]", path, ids.Shape, mask.Shape)
	}
	iv, err := int64s(ids)
	if err != nil {
		return nil, fmt.Errorf("%s: input_ids: %v", path, err)
	}
	mv, err := int64s(mask)
	if err != nil {
		return nil, fmt.Errorf("%s: attention_mask: %v", path, err)
	}
	b, p := ids.Shape[0], ids.Shape[1]
	var seqs [][]int
	for r := range b {
		var s []int
		for q := range p {
			if mv[r*p+q] != 0 {
				s = append(s, int(iv[r*p+q]))
			}
		}
		if len(s) > 0 {
			seqs = append(seqs, s)
		}
	}
	if len(seqs) == 0 {
		return nil, fmt.Errorf("%s: no real tokens", path)
	}
	return seqs, nil
}

func int64s(t safetensors.Tensor) ([]int64, error) {
	switch t.DType {
	case "I64":
		out := make([]int64, t.NumElements())
		for i := range out {
			var v uint64
			for b := 0; b < 8; b++ {
				v |= uint64(t.Data[i*8+b]) << (8 * b)
			}
			out[i] = int64(v)
		}
		return out, nil
	case "I32":
		out := make([]int64, t.NumElements())
		for i := range out {
			var v uint32
			for b := 0; b < 4; b++ {
				v |= uint32(t.Data[i*4+b]) << (8 * b)
			}
			out[i] = int64(int32(v))
		}
		return out, nil
	case "BOOL", "U8":
		out := make([]int64, t.NumElements())
		for i := range out {
			out[i] = int64(t.Data[i])
		}
		return out, nil
	}
	return nil, fmt.Errorf("dtype %s is not an integer type", t.DType)
}

// Shuffled draws batches from in-memory rows in epochs: each epoch visits every row once in
// an order drawn from (seed, epoch). Its state is (epoch, position), so it resumes exactly.
type Shuffled struct {
	rows  *Rows
	seed  uint64
	epoch int
	pos   int
	perm  []int32
}

// NewShuffled returns a Shuffled batcher over rows.
func NewShuffled(rows *Rows, seed uint64) *Shuffled {
	s := &Shuffled{rows: rows, seed: seed}
	s.permute()
	return s
}

func (s *Shuffled) permute() {
	n := s.rows.Len()
	rng := rand.New(rand.NewPCG(s.seed, uint64(s.epoch)+0x5368756666))
	s.perm = growI32(s.perm, n)
	for i := range s.perm {
		s.perm[i] = int32(i)
	}
	for i := n - 1; i > 0; i-- {
		j := rng.IntN(i + 1)
		s.perm[i], s.perm[j] = s.perm[j], s.perm[i]
	}
}

// Width is the rows' width.
func (s *Shuffled) Width() int { return s.rows.W }

// Next fills dst with the next rows, starting a new epoch when one ends.
func (s *Shuffled) Next(dst []float32) error {
	w := s.rows.W
	if len(dst)%w != 0 {
		return fmt.Errorf("sae: batch buffer of %d values is not rows of width %d", len(dst), w)
	}
	for i := 0; i < len(dst)/w; i++ {
		if s.pos == len(s.perm) {
			s.epoch++
			s.pos = 0
			s.permute()
		}
		copy(dst[i*w:(i+1)*w], s.rows.Row(int(s.perm[s.pos])))
		s.pos++
	}
	return nil
}

type shuffledState struct {
	Kind  string `json:"kind"`
	Seed  uint64 `json:"seed"`
	Rows  int    `json:"rows"`
	Epoch int    `json:"epoch"`
	Pos   int    `json:"pos"`
}

// SaveState records the epoch and position.
func (s *Shuffled) SaveState() ([]byte, []float32, error) {
	b, err := json.Marshal(shuffledState{"shuffled", s.seed, s.rows.Len(), s.epoch, s.pos})
	return b, nil, err
}

// RestoreState moves to a saved epoch and position; the seed and row count must match.
func (s *Shuffled) RestoreState(meta []byte, _ []float32) error {
	var st shuffledState
	if err := json.Unmarshal(meta, &st); err != nil || st.Kind != "shuffled" {
		return fmt.Errorf("sae: checkpoint batcher state is not a shuffled-rows state")
	}
	if st.Seed != s.seed || st.Rows != s.rows.Len() {
		return fmt.Errorf("sae: checkpoint was drawn from %d rows with data seed %d; now %d rows with seed %d", st.Rows, st.Seed, s.rows.Len(), s.seed)
	}
	if st.Pos < 0 || st.Pos > st.Rows || st.Epoch < 0 {
		return fmt.Errorf("sae: checkpoint batcher position %d/%d is out of range", st.Pos, st.Rows)
	}
	s.epoch, s.pos = st.Epoch, st.Pos
	s.permute()
	return nil
}

// RowProducer yields activation rows in a fixed order, e.g. a model run over a dataset (one
// row per non-pad token). Produce writes up to len(dst)/Width() rows into dst and returns how
// many it wrote; it returns io.EOF (with 0 rows) after the last row.
type RowProducer interface {
	Width() int
	Produce(dst []float32) (int, error)
}

// RowSeeker is a RowProducer that can restart at a row offset, which resuming a
// ShuffleBuffer needs.
type RowSeeker interface {
	SeekRow(n int64) error
}

// Sequential produces the rows of a Rows in order (a RowProducer and RowSeeker), looping if
// Loop is set.
type Sequential struct {
	Rows *Rows // the rows produced, in order
	Loop bool  // start again at row 0 after the last
	next int
}

// Width is the rows' width.
func (s *Sequential) Width() int { return s.Rows.W }

// Produce copies the next rows.
func (s *Sequential) Produce(dst []float32) (int, error) {
	w := s.Rows.W
	k := 0
	for ; k < len(dst)/w; k++ {
		if s.next == s.Rows.Len() {
			if !s.Loop || s.Rows.Len() == 0 {
				break
			}
			s.next = 0
		}
		copy(dst[k*w:(k+1)*w], s.Rows.Row(s.next))
		s.next++
	}
	if k == 0 && len(dst) >= w {
		return 0, io.EOF
	}
	return k, nil
}

// SeekRow restarts at row n (modulo the length when looping).
func (s *Sequential) SeekRow(n int64) error {
	l := int64(s.Rows.Len())
	switch {
	case n < 0:
		return fmt.Errorf("sae: seek to row %d", n)
	case s.Loop && l > 0:
		s.next = int(n % l)
	case n > l:
		return fmt.Errorf("sae: seek to row %d past the end (%d rows)", n, l)
	default:
		s.next = int(n)
	}
	return nil
}

// ShuffleBuffer turns a RowProducer into shuffled batches with bounded memory: it holds
// Capacity rows, and each output row is a uniformly drawn buffer slot that is then refilled
// with the producer's next row (when the producer is done the buffer drains). A background
// goroutine keeps up to two chunks of producer rows ready, so producing (e.g. running the
// model) overlaps training. The output depends only on the producer's row order and the seed,
// never on timing. Memory: (Capacity + 2·chunk)·width float32s.
type ShuffleBuffer struct {
	p        RowProducer
	w, cap   int
	rng      *rand.Rand
	pcg      *rand.PCG
	buf      []float32
	filled   int
	consumed int64 // rows taken from the producer
	started  bool

	chunkRows int
	ch        chan chunk
	cur       chunk
	curPos    int
	stop      chan struct{}
	done      bool
	err       error
}

type chunk struct {
	rows []float32
	n    int
	err  error
}

// NewShuffleBuffer returns a ShuffleBuffer of capacity rows over p, drawing with seed.
func NewShuffleBuffer(p RowProducer, capacity int, seed uint64) (*ShuffleBuffer, error) {
	if capacity < 1 {
		return nil, fmt.Errorf("sae: shuffle buffer capacity %d: want ≥ 1", capacity)
	}
	w := p.Width()
	if w < 1 {
		return nil, fmt.Errorf("sae: row producer of width %d", w)
	}
	pcg := rand.NewPCG(seed, 0x6275666665)
	return &ShuffleBuffer{p: p, w: w, cap: capacity, pcg: pcg, rng: rand.New(pcg),
		buf: make([]float32, capacity*w), chunkRows: min(max(capacity/8, 1), 4096)}, nil
}

// Width is the producer's width.
func (s *ShuffleBuffer) Width() int { return s.w }

func (s *ShuffleBuffer) start() {
	s.started = true
	s.ch = make(chan chunk, 2)
	s.stop = make(chan struct{})
	go func(ch chan<- chunk, stop <-chan struct{}) {
		defer close(ch)
		for {
			c := chunk{rows: make([]float32, s.chunkRows*s.w)}
			c.n, c.err = s.p.Produce(c.rows)
			select {
			case ch <- c:
			case <-stop:
				return
			}
			if c.err != nil {
				return
			}
		}
	}(s.ch, s.stop)
}

// pull returns the producer's next row, or nil when it is exhausted.
func (s *ShuffleBuffer) pull() ([]float32, error) {
	if s.done {
		return nil, s.err
	}
	if !s.started {
		s.start()
	}
	for s.curPos >= s.cur.n {
		if s.cur.err != nil {
			s.done = true
			if !errors.Is(s.cur.err, io.EOF) {
				s.err = s.cur.err
			}
			return nil, s.err
		}
		c, ok := <-s.ch
		if !ok {
			s.done = true
			return nil, nil
		}
		s.cur, s.curPos = c, 0
	}
	row := s.cur.rows[s.curPos*s.w : (s.curPos+1)*s.w]
	s.curPos++
	s.consumed++
	return row, nil
}

// Next fills dst with shuffled rows. It returns io.EOF once the producer and the buffer are
// both exhausted, and the producer's error if it fails.
func (s *ShuffleBuffer) Next(dst []float32) error {
	w := s.w
	if len(dst)%w != 0 {
		return fmt.Errorf("sae: batch buffer of %d values is not rows of width %d", len(dst), w)
	}
	for s.filled < s.cap {
		row, err := s.pull()
		if err != nil {
			return err
		}
		if row == nil {
			break
		}
		copy(s.buf[s.filled*w:(s.filled+1)*w], row)
		s.filled++
	}
	for i := 0; i < len(dst)/w; i++ {
		if s.filled == 0 {
			return io.EOF
		}
		r := s.rng.IntN(s.filled)
		copy(dst[i*w:(i+1)*w], s.buf[r*w:(r+1)*w])
		row, err := s.pull()
		if err != nil {
			return err
		}
		if row != nil {
			copy(s.buf[r*w:(r+1)*w], row)
		} else {
			s.filled--
			copy(s.buf[r*w:(r+1)*w], s.buf[s.filled*w:(s.filled+1)*w])
		}
	}
	return nil
}

// Close stops the background producer goroutine.
func (s *ShuffleBuffer) Close() {
	if s.started && s.stop != nil {
		close(s.stop)
		s.stop = nil
		for range s.ch {
		}
	}
}

type bufferState struct {
	Kind     string `json:"kind"`
	Capacity int    `json:"capacity"`
	Width    int    `json:"width"`
	Filled   int    `json:"filled"`
	Consumed int64  `json:"consumed"`
	Done     bool   `json:"producer_done"`
	RNG      []byte `json:"rng"`
}

// SaveState records the buffered rows, the random state and how many rows were taken from
// the producer.
func (s *ShuffleBuffer) SaveState() ([]byte, []float32, error) {
	if _, ok := s.p.(RowSeeker); !ok {
		return nil, nil, fmt.Errorf("sae: cannot checkpoint a shuffle buffer whose producer cannot seek (implement RowSeeker)")
	}
	rs, err := s.pcg.MarshalBinary()
	if err != nil {
		return nil, nil, err
	}
	b, err := json.Marshal(bufferState{"shuffle_buffer", s.cap, s.w, s.filled, s.consumed, s.done, rs})
	return b, append([]float32(nil), s.buf[:s.filled*s.w]...), err
}

// RestoreState reloads a saved buffer and seeks the producer to where it was. It must be
// called before the first Next.
func (s *ShuffleBuffer) RestoreState(meta []byte, buffered []float32) error {
	var st bufferState
	if err := json.Unmarshal(meta, &st); err != nil || st.Kind != "shuffle_buffer" {
		return fmt.Errorf("sae: checkpoint batcher state is not a shuffle-buffer state")
	}
	if s.started {
		return fmt.Errorf("sae: RestoreState after the buffer started")
	}
	if st.Capacity != s.cap || st.Width != s.w {
		return fmt.Errorf("sae: checkpoint buffer holds %d rows of width %d; this one %d of width %d", st.Capacity, st.Width, s.cap, s.w)
	}
	if st.Filled < 0 || st.Filled > s.cap || len(buffered) != st.Filled*s.w {
		return fmt.Errorf("sae: checkpoint buffer has %d values for %d rows of width %d", len(buffered), st.Filled, s.w)
	}
	sk, ok := s.p.(RowSeeker)
	if !ok {
		return fmt.Errorf("sae: cannot resume a shuffle buffer whose producer cannot seek")
	}
	if err := sk.SeekRow(st.Consumed); err != nil {
		return err
	}
	if err := s.pcg.UnmarshalBinary(st.RNG); err != nil {
		return fmt.Errorf("sae: checkpoint random state: %v", err)
	}
	copy(s.buf, buffered)
	s.filled, s.consumed, s.done = st.Filled, st.Consumed, st.Done
	return nil
}
