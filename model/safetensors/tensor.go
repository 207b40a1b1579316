package safetensors

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Tensor is a view of one stored tensor. Data aliases the file's bytes: for a tensor
// obtained from OpenFile or OpenDir it is read-only mmap'd memory (writing to it crashes
// the process with SIGSEGV, which recover cannot catch) and it is valid only until the
// File or Checkpoint is closed.
type Tensor struct {
	Name  string
	File  string // path of the file it lives in
	DType DType
	Shape []int
	Data  []byte

	// mapped is set for tensors whose Data lies in a File's mmap, where releasing pages
	// with madvise(MADV_DONTNEED) is safe (they are re-read from the file if touched again).
	// It is never set for Data on the Go heap.
	mapped bool
}

// NumElements is the product of Shape (1 for a scalar, whose Shape is empty).
func (t Tensor) NumElements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Float32s returns the tensor's values as float32.
//
// F32 whose data is 4-byte aligned (always so for files written with 8-byte header padding
// and F32-only or alignment-ordered contents) on a little-endian machine: a zero-copy view
// of Data. For a tensor from OpenFile/OpenDir this is read-only mmap'd memory valid until
// Close; copy it before modifying it.
//
// F16, BF16, F64 and misaligned F32: converted into a new slice. Afterwards, for mmap'd
// tensors, the pages lying wholly inside the tensor's byte range are released with
// madvise(MADV_DONTNEED), so converting a BF16 model does not keep the BF16 pages resident
// next to the float32 copies. (The memory stays readable: touched again, it is re-read
// from the file.)
//
// Other dtypes are an error naming the file, tensor and dtype.
func (t Tensor) Float32s() ([]float32, error) {
	n := t.NumElements()
	if size := t.DType.Size(); size == 0 || !t.DType.IsFloat() {
		return nil, fmt.Errorf("%s: tensor %q has dtype %s, which cannot be read as float32 (only F32, F16, BF16, F64)", t.File, t.Name, t.DType)
	} else if n < 0 || len(t.Data) != n*size {
		return nil, fmt.Errorf("%s: tensor %q: %d data bytes do not match dtype %s shape %v", t.File, t.Name, len(t.Data), t.DType, t.Shape)
	}
	if n == 0 {
		return []float32{}, nil
	}
	if t.DType == DTypeF32 && littleEndian && uintptr(unsafe.Pointer(&t.Data[0]))%4 == 0 {
		return unsafe.Slice((*float32)(unsafe.Pointer(&t.Data[0])), n), nil
	}
	out := make([]float32, n)
	d := t.Data
	switch t.DType {
	case DTypeF32:
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(d[4*i:]))
		}
	case DTypeF16:
		for i := range out {
			out[i] = F16ToF32(binary.LittleEndian.Uint16(d[2*i:]))
		}
	case DTypeBF16:
		for i := range out {
			out[i] = BF16ToF32(binary.LittleEndian.Uint16(d[2*i:]))
		}
	case DTypeF64:
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(d[8*i:])))
		}
	}
	t.release()
	return out, nil
}

// NonFinite counts the NaN and ±Inf values of an F32, F16 or BF16 tensor and returns the
// flat index of the first one (-1 when there is none). Other dtypes report (0, -1).
// It reads Data directly (no float32 copy); for mmap'd F16/BF16 tensors the pages are
// released afterwards as in Float32s.
func (t Tensor) NonFinite() (count int, firstIndex int) {
	firstIndex = -1
	d := t.Data
	note := func(i int) {
		if count == 0 {
			firstIndex = i
		}
		count++
	}
	switch t.DType {
	case DTypeF32:
		for i := 0; i+4 <= len(d); i += 4 {
			if binary.LittleEndian.Uint32(d[i:])&0x7f800000 == 0x7f800000 {
				note(i / 4)
			}
		}
		return count, firstIndex
	case DTypeF16:
		for i := 0; i+2 <= len(d); i += 2 {
			if binary.LittleEndian.Uint16(d[i:])&0x7c00 == 0x7c00 {
				note(i / 2)
			}
		}
	case DTypeBF16:
		for i := 0; i+2 <= len(d); i += 2 {
			if binary.LittleEndian.Uint16(d[i:])&0x7f80 == 0x7f80 {
				note(i / 2)
			}
		}
	default:
		return 0, -1
	}
	t.release()
	return count, firstIndex
}

// CountNonFinite is NonFinite for a float32 slice (for example the result of Float32s).
func CountNonFinite(xs []float32) (count int, firstIndex int) {
	firstIndex = -1
	for i, x := range xs {
		if math.Float32bits(x)&0x7f800000 == 0x7f800000 {
			if count == 0 {
				firstIndex = i
			}
			count++
		}
	}
	return count, firstIndex
}

// release drops the resident pages wholly inside an mmap'd tensor's byte range.
// Best effort: an madvise error only means the pages stay resident.
func (t Tensor) release() {
	if !t.mapped || len(t.Data) == 0 {
		return
	}
	start := uintptr(unsafe.Pointer(&t.Data[0]))
	page := uintptr(pageSize)
	lo := (start + page - 1) &^ (page - 1)
	hi := (start + uintptr(len(t.Data))) &^ (page - 1)
	if hi <= lo {
		return
	}
	_ = unix.Madvise(t.Data[lo-start:hi-start], unix.MADV_DONTNEED)
}

var pageSize = unix.Getpagesize()

var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()
