package safetensors

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"

	"github.com/neuronscope/neuronscope/internal/atomicfile"
)

// WriteTensor is one tensor to write: Data holds its little-endian bytes.
type WriteTensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte
}

// F32 encodes float32 values.
func F32(name string, shape []int, data []float32) WriteTensor {
	b := make([]byte, 4*len(data))
	for i, x := range data {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return WriteTensor{Name: name, DType: DTypeF32, Shape: cloneInts(shape), Data: b}
}

// I64 encodes int64 values.
func I64(name string, shape []int, data []int64) WriteTensor {
	b := make([]byte, 8*len(data))
	for i, x := range data {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(x))
	}
	return WriteTensor{Name: name, DType: DTypeI64, Shape: cloneInts(shape), Data: b}
}

// BF16 encodes float32 values as bfloat16, rounding to nearest even.
func BF16(name string, shape []int, data []float32) WriteTensor {
	b := make([]byte, 2*len(data))
	for i, x := range data {
		binary.LittleEndian.PutUint16(b[2*i:], F32ToBF16(x))
	}
	return WriteTensor{Name: name, DType: DTypeBF16, Shape: cloneInts(shape), Data: b}
}

// F16 encodes float32 values as IEEE half precision, rounding to nearest even.
func F16(name string, shape []int, data []float32) WriteTensor {
	b := make([]byte, 2*len(data))
	for i, x := range data {
		binary.LittleEndian.PutUint16(b[2*i:], F32ToF16(x))
	}
	return WriteTensor{Name: name, DType: DTypeF16, Shape: cloneInts(shape), Data: b}
}

func cloneInts(s []int) []int {
	if s == nil {
		return []int{}
	}
	return append([]int{}, s...)
}

// Write writes a safetensors file: the header (with __metadata__ when metadata is
// non-empty, padded with spaces so that the data starts at a multiple of 64 bytes; Hugging
// Face pads to 8, and 64 is a multiple of 8, so every reader accepts it), then the
// tensors' data contiguously in the given order. Tensors are checked first (unique
// non-empty names, known dtype, non-negative shape, byte length matching dtype and shape),
// so a bad tensor writes nothing.
//
// Keep the data of 4-byte types 4-aligned (for example put F32 tensors before F16/BF16
// ones, or give 16-bit tensors an even element count) so that readers can use F32 data
// without copying. Tensors whose byte sizes are multiples of 64 then all start 64-byte
// aligned in a mmap'd file, so SIMD kernels that peel unaligned elements (gonum's pure-Go
// assembly does) take the same path, and round the same way, as on heap memory: a saved model
// reloads to bit-identical logits.
func Write(w io.Writer, tensors []WriteTensor, metadata map[string]string) error {
	hdr, err := header(tensors, metadata)
	if err != nil {
		return err
	}
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(hdr)))
	if _, err := w.Write(n[:]); err != nil {
		return err
	}
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	for _, t := range tensors {
		if _, err := w.Write(t.Data); err != nil {
			return err
		}
	}
	return nil
}

// dataAlign is the file offset alignment of the tensor data.
const dataAlign = 64

func header(tensors []WriteTensor, metadata map[string]string) ([]byte, error) {
	var b strings.Builder
	b.WriteByte('{')
	first := true
	sep := func() {
		if !first {
			b.WriteByte(',')
		}
		first = false
	}
	if len(metadata) > 0 {
		keys := make([]string, 0, len(metadata))
		for k := range metadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		sep()
		b.WriteString(`"` + metadataKey + `":{`)
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			b.Write(jsonString(k))
			b.WriteByte(':')
			b.Write(jsonString(metadata[k]))
		}
		b.WriteByte('}')
	}
	seen := make(map[string]bool, len(tensors))
	var off uint64
	for _, t := range tensors {
		if t.Name == "" || t.Name == metadataKey {
			return nil, fmt.Errorf("safetensors: invalid tensor name %q", t.Name)
		}
		if seen[t.Name] {
			return nil, fmt.Errorf("safetensors: tensor %q given twice", t.Name)
		}
		seen[t.Name] = true
		if !t.DType.Known() {
			return nil, fmt.Errorf("safetensors: tensor %q: unknown dtype %q", t.Name, t.DType)
		}
		numel := 1
		for _, d := range t.Shape {
			if d < 0 {
				return nil, fmt.Errorf("safetensors: tensor %q: negative dimension in shape %v", t.Name, t.Shape)
			}
			numel = mulInt(numel, d)
		}
		if nb := mulInt(numel, t.DType.Size()); nb < 0 || nb != len(t.Data) {
			return nil, fmt.Errorf("safetensors: tensor %q: %d data bytes, but dtype %s shape %v needs %d", t.Name, len(t.Data), t.DType, t.Shape, nb)
		}
		sep()
		b.Write(jsonString(t.Name))
		fmt.Fprintf(&b, `:{"dtype":"%s","shape":[`, t.DType)
		for i, d := range t.Shape {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprint(&b, d)
		}
		end := off + uint64(len(t.Data))
		fmt.Fprintf(&b, `],"data_offsets":[%d,%d]}`, off, end)
		off = end
	}
	b.WriteByte('}')
	for (8+b.Len())%dataAlign != 0 {
		b.WriteByte(' ')
	}
	return []byte(b.String()), nil
}

func jsonString(s string) []byte {
	b, _ := json.Marshal(s) // cannot fail for a string
	return b
}

// WriteFile writes a safetensors file atomically: into a temporary file in the same
// directory, which is fsynced and renamed over path only when everything succeeded. On
// error nothing is left behind (neither path nor the temporary file). Errors start with path.
func WriteFile(path string, tensors []WriteTensor, metadata map[string]string) error {
	if _, err := header(tensors, metadata); err != nil { // validate before touching the disk
		return fmt.Errorf("%s: %v", path, err)
	}
	return atomicfile.Write(path, func(w *bufio.Writer) error { return Write(w, tensors, metadata) })
}
