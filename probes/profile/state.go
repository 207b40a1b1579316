package profile

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"fmt"
	"io"
	"math"
	"os"
	"sync"
	"unsafe"

	"github.com/neuronscope/neuronscope/internal/atomicfile"
)

// checkpoint is the head of what Save writes: a format tag, the caller's fingerprint of the run
// settings (a resumed run must use the same model, data and options), the profiler's scalars
// and the number of layers. Each layer follows as a gob layerHead and then its arrays as raw
// little-endian bytes (a uint64 element count, then the elements), in the order of
// Layer.arrays; neither writing nor reading ever buffers more than one array. Raw arrays write
// at disk speed (gob's per-element encoding of the ~500 MB state of GPT-2 small took 4× longer).
type checkpoint struct {
	Format      string
	Fingerprint string
	Opt         Options
	Tokens      int64
	Contexts    int64
	Batches     int64
	BOSExcluded int64
	BinFrom     int64
	NLayers     int
}

// layerHead holds a Layer's scalars.
type layerHead struct {
	Hook       string
	Layer, N   int
	Count      int64
	CalibN     int64
	Calibrated bool
}

// v5: BOS positions excluded (BOSExcluded), bin samples bottom-k by a priority key (BinKey),
// the random sample's rank the context index, and a shard's first context (BinFrom).
const checkpointFormat = "neuronscope.profile.checkpoint/v5"

// arrays lists pointers to every array of the layer's state, in checkpoint order.
func (l *Layer) arrays() []any {
	return []any{&l.Mean, &l.M2, &l.M3, &l.M4, &l.Pos, &l.Nonzero, &l.Max, &l.Min, &l.HistW, &l.HistOff, &l.Hist,
		&l.Calib, &l.QB, &l.Seen, &l.BinKey, &l.HeapN, &l.HeapKey, &l.HeapCtx, &l.HeapSlot, &l.SlotVal, &l.SlotCtx, &l.SlotDoc,
		&l.SlotPos, &l.SlotMaxIdx, &l.SlotLen, &l.Tok, &l.Act}
}

// Save writes the profiler state to path atomically (temp file, fsync, rename), so an
// interruption while saving leaves the previous checkpoint intact.
func (p *Profiler) Save(path, fingerprint string) error {
	return atomicfile.Write(path, func(w *bufio.Writer) error { return p.encode(w, fingerprint) })
}

// SaveAsync is Save with the writing in the background: it encodes the state into memory now
// (so the profiler may change as soon as it returns) and writes that to path atomically in a
// goroutine. The returned function waits for the write and returns its error; call it before
// exiting. The file is byte-identical to Save's. The encoding buffer (a second copy of the
// state) is kept and reused by the next SaveAsync, which first waits for the previous write:
// allocating and faulting in a fresh ~500 MB buffer for GPT-2 small costs more than encoding.
func (p *Profiler) SaveAsync(path, fingerprint string) (wait func() error) {
	if p.saveWait != nil {
		_ = p.saveWait() // its error went to the caller of the previous SaveAsync's wait
	}
	buf := bytes.NewBuffer(p.saveBuf[:0])
	buf.Grow(p.stateBytes() + 4096)
	if err := p.encode(buf, fingerprint); err != nil {
		return func() error { return err }
	}
	p.saveBuf = buf.Bytes()
	data := p.saveBuf
	done := make(chan error, 1)
	go func() {
		done <- atomicfile.Write(path, func(w *bufio.Writer) error {
			_, err := w.Write(data)
			return err
		})
	}()
	var err error
	var once sync.Once
	p.saveWait = func() error {
		once.Do(func() { err = <-done })
		return err
	}
	return p.saveWait
}

// stateBytes is the size of the layers' arrays in a checkpoint.
func (p *Profiler) stateBytes() int {
	n := 0
	for _, l := range p.Layers {
		for _, a := range l.arrays() {
			switch a := a.(type) {
			case *[]float64:
				n += 8 + 8*len(*a)
			case *[]float32:
				n += 8 + 4*len(*a)
			case *[]int64:
				n += 8 + 8*len(*a)
			case *[]int32:
				n += 8 + 4*len(*a)
			case *[]int16:
				n += 8 + 2*len(*a)
			}
		}
	}
	return n
}

// encode writes the checkpoint (see checkpoint) to w.
func (p *Profiler) encode(w io.Writer, fingerprint string) error {
	enc := gob.NewEncoder(w)
	err := enc.Encode(checkpoint{Format: checkpointFormat, Fingerprint: fingerprint, Opt: p.Opt,
		Tokens: p.Tokens, Contexts: p.Contexts, Batches: p.Batches, BOSExcluded: p.BOSExcluded, BinFrom: p.BinFrom, NLayers: len(p.Layers)})
	buf := make([]byte, 1<<20)
	for _, l := range p.Layers {
		if err != nil {
			return err
		}
		err = enc.Encode(layerHead{Hook: l.Hook, Layer: l.Layer, N: l.N, Count: l.Count, CalibN: l.CalibN, Calibrated: l.Calibrated})
		for _, a := range l.arrays() {
			if err != nil {
				return err
			}
			switch a := a.(type) {
			case *[]float64:
				err = writeArray(w, buf, *a, 8, func(b []byte, v float64) { binary.LittleEndian.PutUint64(b, math.Float64bits(v)) })
			case *[]float32:
				err = writeArray(w, buf, *a, 4, func(b []byte, v float32) { binary.LittleEndian.PutUint32(b, math.Float32bits(v)) })
			case *[]int64:
				err = writeArray(w, buf, *a, 8, func(b []byte, v int64) { binary.LittleEndian.PutUint64(b, uint64(v)) })
			case *[]int32:
				err = writeArray(w, buf, *a, 4, func(b []byte, v int32) { binary.LittleEndian.PutUint32(b, uint32(v)) })
			case *[]int16:
				err = writeArray(w, buf, *a, 2, func(b []byte, v int16) { binary.LittleEndian.PutUint16(b, uint16(v)) })
			}
		}
	}
	return err
}

// littleEndian reports whether this machine stores numbers little-endian, as checkpoints do.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// writeArray writes len(a) as a uint64 and then the elements, size bytes each, through buf.
func writeArray[T any](w io.Writer, buf []byte, a []T, size int, put func([]byte, T)) error {
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(a)))
	if _, err := w.Write(n[:]); err != nil {
		return err
	}
	if littleEndian && len(a) > 0 {
		// the in-memory bytes are already the file's: write them as they are
		_, err := w.Write(unsafe.Slice((*byte)(unsafe.Pointer(&a[0])), len(a)*size))
		return err
	}
	per := len(buf) / size
	for len(a) > 0 {
		k := min(per, len(a))
		for i, v := range a[:k] {
			put(buf[i*size:], v)
		}
		if _, err := w.Write(buf[:k*size]); err != nil {
			return err
		}
		a = a[k:]
	}
	return nil
}

// readArray reads what writeArray wrote; limit bounds the element count (a corrupt file must
// not allocate without bound). A zero count gives a nil slice.
func readArray[T any](r io.Reader, buf []byte, limit uint64, size int, get func([]byte) T) ([]T, error) {
	var n [8]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	cnt := binary.LittleEndian.Uint64(n[:])
	if cnt > limit {
		return nil, fmt.Errorf("array of %d elements, at most %d expected", cnt, limit)
	}
	if cnt == 0 {
		return nil, nil
	}
	a := make([]T, cnt)
	per := len(buf) / size
	for i := 0; i < len(a); i += per {
		k := min(per, len(a)-i)
		if _, err := io.ReadFull(r, buf[:k*size]); err != nil {
			return nil, err
		}
		for j := range k {
			a[i+j] = get(buf[j*size:])
		}
	}
	return a, nil
}

// Load reads a checkpoint written by Save; the fingerprint must match.
func Load(path, fingerprint string) (*Profiler, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p, err := decode(bufio.NewReaderSize(f, 1<<20), fingerprint) // an io.ByteReader, so gob reads no further than its messages
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return p, nil
}

// MarshalBinary encodes the whole state as Save writes it (without a fingerprint): the form
// in which a distributed run moves shard states between workers.
func (p *Profiler) MarshalBinary() ([]byte, error) {
	var b bytes.Buffer
	b.Grow(p.stateBytes() + 4096)
	err := p.encode(&b, "")
	return b.Bytes(), err
}

// Unmarshal decodes what MarshalBinary wrote, checking every array's length against the
// options and the hook point's width.
func Unmarshal(data []byte) (*Profiler, error) {
	return decode(bytes.NewReader(data), "")
}

func decode(br io.Reader, fingerprint string) (*Profiler, error) {
	dec := gob.NewDecoder(br)
	var c checkpoint
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("not a profile checkpoint: %v", err)
	}
	if c.Format != checkpointFormat {
		return nil, fmt.Errorf("checkpoint format %q, want %q", c.Format, checkpointFormat)
	}
	if c.Fingerprint != fingerprint {
		return nil, fmt.Errorf("the checkpoint was written by a run with other settings (%s), not %s", c.Fingerprint, fingerprint)
	}
	if o := c.Opt; o.TopK < 1 || o.QuantileBins < 1 || o.PerBin < 1 || o.RandomSample < 1 || o.HistBins < 2 || o.CalibContext < 1 ||
		o.Before < 0 || o.After < 0 || o.Before+o.After > 1<<14 || c.NLayers < 0 {
		return nil, fmt.Errorf("inconsistent checkpoint options %+v", c.Opt)
	}
	p := &Profiler{Opt: c.Opt, Tokens: c.Tokens, Contexts: c.Contexts, Batches: c.Batches, BinFrom: c.BinFrom, BOSExcluded: c.BOSExcluded}
	buf := make([]byte, 1<<20)
	for i := range c.NLayers {
		var h layerHead
		if err := dec.Decode(&h); err != nil {
			return nil, fmt.Errorf("layer %d: %v", i, err)
		}
		l := &Layer{Hook: h.Hook, Layer: h.Layer, N: h.N, Count: h.Count, CalibN: h.CalibN, Calibrated: h.Calibrated}
		o := c.Opt
		limit := uint64(max(h.N, 0)) * uint64(max(2*o.TopK+o.QuantileBins*o.PerBin+o.RandomSample, o.HistBins, o.CalibContext, o.QuantileBins+1, 2)) *
			uint64(max(o.Before+1+o.After, 1))
		var err error
		for _, a := range l.arrays() {
			switch a := a.(type) {
			case *[]float64:
				*a, err = readArray(br, buf, limit, 8, func(b []byte) float64 { return math.Float64frombits(binary.LittleEndian.Uint64(b)) })
			case *[]float32:
				*a, err = readArray(br, buf, limit, 4, func(b []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b)) })
			case *[]int64:
				*a, err = readArray(br, buf, limit, 8, func(b []byte) int64 { return int64(binary.LittleEndian.Uint64(b)) })
			case *[]int32:
				*a, err = readArray(br, buf, limit, 4, func(b []byte) int32 { return int32(binary.LittleEndian.Uint32(b)) })
			case *[]int16:
				*a, err = readArray(br, buf, limit, 2, func(b []byte) int16 { return int16(binary.LittleEndian.Uint16(b)) })
			}
			if err != nil {
				return nil, fmt.Errorf("layer %d: %v", i, err)
			}
		}
		if err := p.checkLayer(l); err != nil {
			return nil, fmt.Errorf("layer %d (%s): %v", i, l.Hook, err)
		}
		p.Layers = append(p.Layers, l)
	}
	return p, nil
}

// checkLayer verifies that every array of a decoded layer has the length its width and the
// options give, and that heap sizes and slots are in range, so that a corrupt state is an
// error and not a panic later.
func (p *Profiler) checkLayer(l *Layer) error {
	o, n, s, w := p.Opt, l.N, p.slots(), p.window()
	if n < 1 {
		return fmt.Errorf("%d neurons", n)
	}
	calib := n * o.CalibContext
	if l.Calibrated {
		calib = 0
	}
	want := []int{n, n, n, n, n, n, n, n, n, n, n * o.HistBins, calib, n * (o.QuantileBins - 1), n * (o.QuantileBins + 1),
		n * o.QuantileBins * o.PerBin, 2 * n, n * 2 * o.TopK, n * 2 * o.TopK, n * 2 * o.TopK, n * s, n * s, n * s, n * s, n * s, n * s, n * s * w, n * s * w}
	for i, a := range l.arrays() {
		var got int
		switch a := a.(type) {
		case *[]float64:
			got = len(*a)
		case *[]float32:
			got = len(*a)
		case *[]int64:
			got = len(*a)
		case *[]int32:
			got = len(*a)
		case *[]int16:
			got = len(*a)
		}
		if got != want[i] {
			return fmt.Errorf("array %d has %d elements, want %d", i, got, want[i])
		}
	}
	for i, h := range l.HeapN {
		if h < 0 || int(h) > o.TopK {
			return fmt.Errorf("heap %d has %d entries", i, h)
		}
	}
	for _, sl := range l.HeapSlot {
		if sl < 0 || int(sl) >= o.TopK {
			return fmt.Errorf("heap slot %d out of range", sl)
		}
	}
	for _, v := range l.SlotLen {
		if v < 0 || int(v) > w {
			return fmt.Errorf("window of %d tokens", v)
		}
	}
	for _, v := range l.SlotMaxIdx {
		if v < 0 || int(v) >= w {
			return fmt.Errorf("max index %d out of the window", v)
		}
	}
	return nil
}
