package decompose

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/safetensors"
)

// DefaultMaxBytes is the default bound on the activation matrix A held in memory: d_mlp · n
// float32 values, 4 GiB (for GPT-2 small's d_mlp 3072 that is 349,525 tokens; for Llama-3.1-8B's
// 14336, 74,898). SNMF needs about as much again for G, F, their best copies and its buffers
// only when rank is comparable to d_mlp; at the usual ranks the extra is a few percent.
const DefaultMaxBytes int64 = 4 << 30

// Token locates one activation row in its source.
type Token struct {
	Seq int `json:"seq"`      // sequence: the batch row, counted across everything appended
	Pos int `json:"pos"`      // position in that row of the source tensor (pads included)
	ID  int `json:"token_id"` // token id, or -1 when the source has none
}

// Activations is the matrix SNMF factorises, held as rows: row t of Rows ([n, d_mlp],
// row-major) is token t's activation vector, column t of A = Rowsᵀ [d_mlp, n]. Rows grow by
// Append and AppendBatch (the seam for any source: a trace file, a model streamed over a
// dataset), which refuse to grow A beyond MaxBytes.
type Activations struct {
	DMLP int
	// Rows is [n, d_mlp] float32.
	Rows []float32
	// Tokens has one entry per row when the source knows its tokens, else it is nil.
	Tokens []Token
	// MaxBytes bounds len(Rows)·4; 0 means DefaultMaxBytes.
	MaxBytes int64
	// Dropped counts tokens AppendBatch left out: pads, BOS, first positions.
	DroppedPad, DroppedBOS, DroppedFirst int

	seqs int
}

// NewActivations returns an empty matrix of rows of width dMLP, bounded by maxBytes (0:
// DefaultMaxBytes).
func NewActivations(dMLP int, maxBytes int64) *Activations {
	return &Activations{DMLP: dMLP, MaxBytes: maxBytes}
}

// N is the number of rows (tokens).
func (a *Activations) N() int {
	if a.DMLP == 0 {
		return 0
	}
	return len(a.Rows) / a.DMLP
}

// Sequences is the number of sequences (batch rows) appended through AppendBatch.
func (a *Activations) Sequences() int { return a.seqs }

func (a *Activations) limit() int64 {
	if a.MaxBytes > 0 {
		return a.MaxBytes
	}
	return DefaultMaxBytes
}

// grow checks that m more rows fit under the bound.
func (a *Activations) grow(m int) error {
	need := (int64(a.N()) + int64(m)) * int64(a.DMLP) * 4
	if need > a.limit() {
		return &LimitError{Rows: a.N() + m, DMLP: a.DMLP, Bytes: need, Limit: a.limit()}
	}
	return nil
}

// LimitError is returned when the activation matrix would exceed its memory bound.
type LimitError struct {
	Rows, DMLP   int
	Bytes, Limit int64
}

// Error says how large A would be and what the limit is.
func (e *LimitError) Error() string {
	return fmt.Sprintf("decompose: %d tokens × d_mlp %d float32 = %s exceeds the activation memory limit of %s (raise the limit, or use fewer tokens)",
		e.Rows, e.DMLP, humanBytes(e.Bytes), humanBytes(e.Limit))
}

func humanBytes(b int64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(b)/(1<<20))
	}
	return fmt.Sprintf("%d bytes", b)
}

// Append adds rows [m, d_mlp] (copied) and, when the matrix tracks tokens, one Token per row
// (tokens must be nil when it does not, and for the first append decides). NaN or ±Inf values
// are an error naming the row and neuron; nothing is appended on error.
func (a *Activations) Append(rows []float32, tokens []Token) error {
	if a.DMLP <= 0 {
		return fmt.Errorf("decompose: activations have no width (d_mlp %d)", a.DMLP)
	}
	if len(rows)%a.DMLP != 0 {
		return fmt.Errorf("decompose: %d values are not whole rows of d_mlp %d", len(rows), a.DMLP)
	}
	m := len(rows) / a.DMLP
	if tokens != nil && len(tokens) != m {
		return fmt.Errorf("decompose: %d tokens for %d rows", len(tokens), m)
	}
	if a.N() > 0 && (tokens == nil) != (a.Tokens == nil) {
		return fmt.Errorf("decompose: rows with and without tokens cannot be mixed")
	}
	if r, c, ok := firstNonFinite(rows, a.DMLP); !ok {
		return fmt.Errorf("decompose: row %d, neuron %d is %v", a.N()+r, c, rows[r*a.DMLP+c])
	}
	if err := a.grow(m); err != nil {
		return err
	}
	a.Rows = append(a.Rows, rows...)
	if tokens != nil {
		a.Tokens = append(a.Tokens, tokens...)
	}
	return nil
}

// TokenFilter says which real tokens of a batch become rows. Pads (mask false) never do.
type TokenFilter struct {
	// BOS, if ≥ 0, drops every token with this id wherever it occurs: the published rule
	// (mask = ids ≠ pad ∧ ids ≠ bos).
	BOS int
	// DropFirst drops the first real token of every sequence (for prompts that begin with a
	// BOS whose id is unknown, or that have no BOS token but a first position to skip).
	DropFirst bool
}

// NoFilter keeps every real token.
var NoFilter = TokenFilter{BOS: -1}

// AppendBatch adds the kept tokens of one batch: acts is the hook tensor [b.Size, b.Len,
// d_mlp] (e.g. blocks.L.mlp.hook_post), b gives the ids and the mask of real tokens (b.IDs
// may be nil when unknown; the BOS rule then cannot apply). It returns the number of rows
// added. This is the seam for streaming sources: call it once per forward pass, e.g. from a
// hooks.Observe callback. Nothing is appended on error.
func (a *Activations) AppendBatch(b model.Batch, acts []float32, f TokenFilter) (int, error) {
	d := a.DMLP
	if len(acts) != b.Size*b.Len*d {
		return 0, fmt.Errorf("decompose: activations hold %d values, want [%d, %d, %d]", len(acts), b.Size, b.Len, d)
	}
	if b.Mask != nil && len(b.Mask) != b.Size*b.Len || b.IDs != nil && len(b.IDs) != b.Size*b.Len {
		return 0, fmt.Errorf("decompose: batch ids/mask do not match [%d, %d]", b.Size, b.Len)
	}
	var keep []int
	pad, bos, first := 0, 0, 0
	for r := 0; r < b.Size; r++ {
		seenReal := false
		for p := 0; p < b.Len; p++ {
			i := r*b.Len + p
			switch {
			case b.Mask != nil && !b.Mask[i]:
				pad++
			case f.DropFirst && !seenReal:
				first++
				seenReal = true
			case f.BOS >= 0 && b.IDs != nil && b.IDs[i] == f.BOS:
				bos++
				seenReal = true
			default:
				seenReal = true
				keep = append(keep, i)
			}
		}
	}
	if err := a.grow(len(keep)); err != nil {
		return 0, err
	}
	rows := make([]float32, 0, len(keep)*d)
	toks := make([]Token, 0, len(keep))
	for _, i := range keep {
		rows = append(rows, acts[i*d:(i+1)*d]...)
		id := -1
		if b.IDs != nil {
			id = b.IDs[i]
		}
		toks = append(toks, Token{Seq: a.seqs + i/b.Len, Pos: i % b.Len, ID: id})
	}
	if err := a.Append(rows, toks); err != nil {
		return 0, err
	}
	a.seqs += b.Size
	a.DroppedPad += pad
	a.DroppedBOS += bos
	a.DroppedFirst += first
	return len(keep), nil
}

// Source appends activation rows to a matrix: FileSource reads a safetensors file; a model
// streamed over a dataset is another (its batches go through AppendBatch).
type Source interface {
	// AppendTo appends the source's rows to a; it may set a.DMLP when a is empty.
	AppendTo(ctx context.Context, a *Activations) error
	// Describe says what the source is, for provenance.
	Describe() string
}

// FileSource reads activations from a safetensors file, in either of two layouts:
//
//   - rows: a tensor [n, d_mlp] (F32, or F16/BF16/F64 converted), one row per token. With a
//     single tensor in the file no name is needed.
//   - trace: the output of `neuronscope trace`, a hook tensor [batch, pos, d_mlp] chosen by
//     name (blocks.L.mlp.hook_post by default, see HookName) with input_ids and attention_mask
//     [batch, pos] (I64): pads are dropped, and Filter drops BOS or first positions.
type FileSource struct {
	Path string
	// Tensor names the tensor; "" picks the only tensor, or the only *.mlp.hook_post tensor.
	Tensor string
	// RowsFallback reads a file that lacks Tensor but holds a single [n, d_mlp] tensor as
	// rows (so a rows file needs no name when the caller asks for a hook name).
	RowsFallback bool
	// Filter applies to trace files.
	Filter TokenFilter
}

// HookName is the tensor name of a hook point in trace files, e.g. HookName(6, "") =
// "blocks.6.mlp.hook_post". hook may be a site ("mlp.hook_post", "hook_mlp_out", …) or a full
// hook name (layer is then ignored and must agree if ≥ 0).
func HookName(layer int, hook string) (string, error) {
	if hook == "" {
		hook = hooks.MLPPost.String()
	}
	if strings.HasPrefix(hook, "blocks.") {
		p, err := hooks.Parse(hook)
		if err != nil {
			return "", err
		}
		if layer >= 0 && p.Layer != layer {
			return "", fmt.Errorf("hook %s is in layer %d, not %d", hook, p.Layer, layer)
		}
		return p.String(), nil
	}
	if layer < 0 {
		return "", fmt.Errorf("hook %q needs a layer", hook)
	}
	p, err := hooks.Parse(fmt.Sprintf("blocks.%d.%s", layer, hook))
	if err != nil {
		return "", err
	}
	return p.String(), nil
}

// Describe names the file and tensor.
func (s FileSource) Describe() string {
	if s.Tensor == "" {
		return s.Path
	}
	return s.Path + ":" + s.Tensor
}

// AppendTo reads the file into a. Errors name the file and tensor: a missing or ambiguous
// tensor, a wrong rank, dtype or width, NaN/Inf in a kept row, a mask or ids of the wrong shape,
// the memory bound. Nothing is appended on error.
func (s FileSource) AppendTo(ctx context.Context, a *Activations) error {
	f, err := safetensors.OpenFile(s.Path)
	if err != nil {
		return err
	}
	defer f.Close()
	name, err := s.pick(f)
	if err != nil {
		return err
	}
	t, _ := f.Tensor(name)
	if !t.DType.IsFloat() {
		return fmt.Errorf("%s: tensor %q has dtype %s, want a float type (F32, F16, BF16, F64)", s.Path, name, t.DType)
	}
	var size, length, d int
	switch len(t.Shape) {
	case 2:
		size, length, d = 1, t.Shape[0], t.Shape[1]
	case 3:
		size, length, d = t.Shape[0], t.Shape[1], t.Shape[2]
	default:
		return fmt.Errorf("%s: tensor %q has shape %v: want [n, d_mlp] rows or a [batch, pos, d_mlp] hook tensor", s.Path, name, t.Shape)
	}
	if d == 0 {
		return fmt.Errorf("%s: tensor %q has width 0", s.Path, name)
	}
	if a.DMLP == 0 && a.N() == 0 {
		a.DMLP = d
	}
	if d != a.DMLP {
		return fmt.Errorf("%s: tensor %q has width %d, the activations so far have %d", s.Path, name, d, a.DMLP)
	}
	// Check the bound before converting anything (the file's rows are an upper bound).
	if len(t.Shape) == 2 {
		if err := a.grow(length); err != nil {
			return fmt.Errorf("%s: %w", s.Path, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	data, err := t.Float32s()
	if err != nil {
		return err
	}
	if len(t.Shape) == 2 {
		if err := a.Append(data, nil); err != nil {
			return fmt.Errorf("%s: tensor %q: %w", s.Path, name, err)
		}
		return nil
	}
	b := model.Batch{Size: size, Len: length}
	if b.IDs, err = intTensor(f, "input_ids", size, length); err != nil {
		return err
	}
	mask, err := intTensor(f, "attention_mask", size, length)
	if err != nil {
		return err
	}
	if mask != nil {
		b.Mask = make([]bool, len(mask))
		for i, v := range mask {
			b.Mask[i] = v != 0
		}
	}
	if _, err := a.AppendBatch(b, data, s.Filter); err != nil {
		return fmt.Errorf("%s: tensor %q: %w", s.Path, name, err)
	}
	return nil
}

// pick chooses the tensor to read.
func (s FileSource) pick(f *safetensors.File) (string, error) {
	names := f.Names()
	sort.Strings(names)
	if s.Tensor != "" {
		if _, ok := f.Tensor(s.Tensor); ok {
			return s.Tensor, nil
		}
		if only, ok := f.Tensor(names[0]); s.RowsFallback && len(names) == 1 && ok && len(only.Shape) == 2 {
			return names[0], nil
		}
		return "", fmt.Errorf("%s: no tensor %q (the file has %s)", s.Path, s.Tensor, listNames(names))
	}
	if len(names) == 1 {
		return names[0], nil
	}
	var post []string
	for _, n := range names {
		if strings.HasSuffix(n, "."+hooks.MLPPost.String()) {
			post = append(post, n)
		}
	}
	if len(post) == 1 {
		return post[0], nil
	}
	return "", fmt.Errorf("%s: which tensor? the file has %s (name one, e.g. with --layer/--hook)", s.Path, listNames(names))
}

func listNames(names []string) string {
	if len(names) == 0 {
		return "no tensors"
	}
	if len(names) > 8 {
		return strings.Join(names[:8], ", ") + fmt.Sprintf(" and %d more", len(names)-8)
	}
	return strings.Join(names, ", ")
}

// intTensor reads an optional I64/I32 tensor [size, length] as ints (nil when absent).
func intTensor(f *safetensors.File, name string, size, length int) ([]int, error) {
	t, ok := f.Tensor(name)
	if !ok {
		return nil, nil
	}
	if len(t.Shape) != 2 || t.Shape[0] != size || t.Shape[1] != length {
		return nil, fmt.Errorf("%s: tensor %q has shape %v, want [%d, %d] like the activations", f.Path(), name, t.Shape, size, length)
	}
	n := size * length
	out := make([]int, n)
	switch t.DType {
	case "I64":
		for i := range out {
			v := int64(binary.LittleEndian.Uint64(t.Data[8*i:]))
			if v < math.MinInt32 || v > math.MaxInt32 {
				return nil, fmt.Errorf("%s: tensor %q entry %d = %d is out of range", f.Path(), name, i, v)
			}
			out[i] = int(v)
		}
	case "I32":
		for i := range out {
			out[i] = int(int32(binary.LittleEndian.Uint32(t.Data[4*i:])))
		}
	default:
		return nil, fmt.Errorf("%s: tensor %q has dtype %s, want I64 or I32", f.Path(), name, t.DType)
	}
	return out, nil
}
