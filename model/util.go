package model

import (
	"math"
	"strconv"
)

func itoa(i int) string { return strconv.Itoa(i) }

// roundToDType rounds a float32 constant the way PyTorch does when it casts it to the weights'
// stored dtype (Gemma's embedding scale), round-to-nearest-even.
func roundToDType(v float32, dtype string) float32 {
	switch dtype {
	case "BF16":
		b := math.Float32bits(v)
		b += 0x7fff + (b>>16)&1
		return math.Float32frombits(b &^ 0xffff)
	case "F16":
		// float16 has 10 mantissa bits: round the float32 mantissa (23 bits) to 10, ties to even.
		b := math.Float32bits(v)
		b += 0xfff + (b>>13)&1
		return math.Float32frombits(b &^ 0x1fff)
	}
	return v
}
