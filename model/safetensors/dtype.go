package safetensors

import (
	"math"
	"sort"
)

// DType is a safetensors element type, spelled as in the file header ("F32", "BF16", ...).
type DType string

// The element types this package reads and writes. They are exactly the types
// github.com/nlpodyssey/safetensors understands; any other dtype string in a header
// (for example the float8 types F8_E4M3 / F8_E5M2) is reported as unknown.
const (
	DTypeBOOL DType = "BOOL"
	DTypeU8   DType = "U8"
	DTypeI8   DType = "I8"
	DTypeI16  DType = "I16"
	DTypeU16  DType = "U16"
	DTypeF16  DType = "F16"
	DTypeBF16 DType = "BF16"
	DTypeI32  DType = "I32"
	DTypeU32  DType = "U32"
	DTypeF32  DType = "F32"
	DTypeF64  DType = "F64"
	DTypeI64  DType = "I64"
	DTypeU64  DType = "U64"
)

var dtypeSizes = map[DType]int{
	DTypeBOOL: 1, DTypeU8: 1, DTypeI8: 1,
	DTypeI16: 2, DTypeU16: 2, DTypeF16: 2, DTypeBF16: 2,
	DTypeI32: 4, DTypeU32: 4, DTypeF32: 4,
	DTypeF64: 8, DTypeI64: 8, DTypeU64: 8,
}

// Size is the size in bytes of one element, or 0 for an unknown dtype.
func (d DType) Size() int { return dtypeSizes[d] }

// Known reports whether d is a dtype this package understands.
func (d DType) Known() bool { return dtypeSizes[d] != 0 }

// IsFloat reports whether Float32s can convert d (F32, F16, BF16, F64).
func (d DType) IsFloat() bool {
	return d == DTypeF32 || d == DTypeF16 || d == DTypeBF16 || d == DTypeF64
}

// knownDTypes lists the known dtypes, sorted, for error messages.
func knownDTypes() []string {
	out := make([]string, 0, len(dtypeSizes))
	for d := range dtypeSizes {
		out = append(out, string(d))
	}
	sort.Strings(out)
	return out
}

// BF16ToF32 widens a bfloat16 bit pattern to float32. This is exact: bfloat16 is the
// upper half of a float32 (NaN payloads and signs are kept).
func BF16ToF32(b uint16) float32 { return math.Float32frombits(uint32(b) << 16) }

// F16ToF32 widens an IEEE 754 binary16 bit pattern to float32. Every half value,
// including subnormals, ±0, ±Inf and NaN (payload kept), is represented exactly.
func F16ToF32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f: // Inf or NaN
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp != 0: // normal
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	case mant == 0: // ±0
		return math.Float32frombits(sign)
	default: // subnormal: mant · 2^-24, a normal float32
		// Normalise: shift the mantissa until its leading one reaches bit 10.
		e := uint32(127 - 15 + 1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		return math.Float32frombits(sign | e<<23 | (mant&0x3ff)<<13)
	}
}

// F32ToBF16 narrows a float32 to bfloat16 with round-to-nearest-even. Values beyond the
// bfloat16 range round to ±Inf; NaN stays NaN (quiet, sign and upper payload kept).
func F32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 { // NaN: truncate, keep it a NaN
		return uint16(b>>16) | 0x0040
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// F32ToF16 narrows a float32 to IEEE 754 binary16 with round-to-nearest-even, producing
// subnormals where needed. Values beyond the half range round to ±Inf; NaN stays NaN.
func F32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant != 0 {
			return sign | 0x7e00 | uint16(mant>>13) // quiet NaN
		}
		return sign | 0x7c00
	}
	e := exp - 127 // unbiased exponent (float32 subnormals give -127 and round to 0 below)
	switch {
	case e > 15:
		return sign | 0x7c00
	case e >= -14: // normal half (rounding may carry into the exponent, up to Inf)
		r := uint32(e+15)<<10 | mant>>13
		return sign | uint16(roundShiftedNE(r, mant, 13))
	case e >= -25: // subnormal half: value = sig · 2^(e-23), unit 2^-24
		sig := mant | 0x800000
		shift := uint(-e - 1) // 14..24
		return sign | uint16(roundShiftedNE(sig>>shift, sig, shift))
	default:
		return sign
	}
}

// roundShiftedNE rounds r = x>>shift to nearest even using the shifted-out bits of x.
func roundShiftedNE(r, x uint32, shift uint) uint32 {
	rem := x & (1<<shift - 1)
	half := uint32(1) << (shift - 1)
	if rem > half || (rem == half && r&1 == 1) {
		r++
	}
	return r
}
