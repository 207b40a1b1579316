package vision

import "math"

// Resampling as Pillow's Image.resize does it for 8-bit images (libImaging/Resample.c): a
// separable convolution, horizontal pass first over the rows the vertical pass needs, then
// vertical; each output pixel's filter weights come from the filter evaluated at source-pixel
// centres, support scaled by the downscale factor (antialiasing), normalized to sum 1, and
// quantized to 22-bit fixed point; each pass rounds to uint8 with clipping.

// Resample is a PIL resampling filter, numbered as PIL numbers them (preprocessor_config.json's
// "resample").
type Resample int

// PIL's filters.
const (
	Nearest  Resample = 0
	Lanczos  Resample = 1
	Bilinear Resample = 2
	Bicubic  Resample = 3
	Box      Resample = 4
	Hamming  Resample = 5
)

var resampleNames = map[Resample]string{Nearest: "nearest", Lanczos: "lanczos", Bilinear: "bilinear", Bicubic: "bicubic", Box: "box", Hamming: "hamming"}

// String is the filter's PIL name.
func (r Resample) String() string {
	if s, ok := resampleNames[r]; ok {
		return s
	}
	return "unknown"
}

type filter struct {
	support float64
	f       func(float64) float64
}

var filters = map[Resample]filter{
	Box: {0.5, func(x float64) float64 {
		if x > -0.5 && x <= 0.5 {
			return 1
		}
		return 0
	}},
	Bilinear: {1, func(x float64) float64 {
		x = math.Abs(x)
		if x < 1 {
			return 1 - x
		}
		return 0
	}},
	Hamming: {1, func(x float64) float64 {
		x = math.Abs(x)
		if x == 0 {
			return 1
		}
		if x >= 1 {
			return 0
		}
		x *= math.Pi
		return math.Sin(x) / x * (0.54 + 0.46*math.Cos(x))
	}},
	Bicubic: {2, func(x float64) float64 {
		const a = -0.5
		x = math.Abs(x)
		if x < 1 {
			return ((a+2)*x-(a+3))*x*x + 1
		}
		if x < 2 {
			return (((x-5)*x+8)*x - 4) * a
		}
		return 0
	}},
	Lanczos: {3, func(x float64) float64 {
		if x >= -3 && x < 3 {
			return sinc(x) * sinc(x/3)
		}
		return 0
	}},
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	x *= math.Pi
	return math.Sin(x) / x
}

const precisionBits = 32 - 8 - 2

// coeffs returns, for each of outSize output pixels, the first source pixel, the number of
// source pixels, and their fixed-point weights (ksize per output pixel).
func coeffs(inSize, outSize int, flt filter) (bounds []int, kk []int32, ksize int) {
	scale := float64(inSize) / float64(outSize)
	filterscale := max(scale, 1)
	support := flt.support * filterscale
	ksize = int(math.Ceil(support))*2 + 1
	bounds = make([]int, 2*outSize)
	kk = make([]int32, outSize*ksize)
	w := make([]float64, ksize)
	for xx := 0; xx < outSize; xx++ {
		center := (float64(xx) + 0.5) * scale
		ss := 1 / filterscale
		xmin := max(int(center-support+0.5), 0)
		xmax := min(int(center+support+0.5), inSize) - xmin
		var ww float64
		for x := 0; x < xmax; x++ {
			w[x] = flt.f((float64(x+xmin) - center + 0.5) * ss)
			ww += w[x]
		}
		for x := 0; x < xmax; x++ {
			v := w[x]
			if ww != 0 {
				v /= ww
			}
			if v < 0 {
				kk[xx*ksize+x] = int32(-0.5 + v*(1<<precisionBits))
			} else {
				kk[xx*ksize+x] = int32(0.5 + v*(1<<precisionBits))
			}
		}
		bounds[2*xx], bounds[2*xx+1] = xmin, xmax
	}
	return bounds, kk, ksize
}

func clip8(v int64) uint8 {
	if v >= 1<<precisionBits<<8 {
		return 255
	}
	if v <= 0 {
		return 0
	}
	return uint8(v >> precisionBits)
}

// resize resamples an RGB image [h, w, 3] to [outH, outW, 3] as Pillow's resize with the given
// filter (not Nearest) and reducing_gap None.
func resize(pix []uint8, w, h, outW, outH int, rs Resample) []uint8 {
	if w == outW && h == outH {
		return append([]uint8(nil), pix...)
	}
	flt := filters[rs]
	bx, kx, ksx := coeffs(w, outW, flt)
	by, ky, ksy := coeffs(h, outH, flt)
	// Horizontal pass over the rows the vertical pass reads.
	first := by[0]
	last := by[2*outH-2] + by[2*outH-1]
	src, rows := pix, h
	yOff := 0
	if w != outW {
		rows = last - first
		tmp := make([]uint8, rows*outW*3)
		for y := 0; y < rows; y++ {
			in := pix[(y+first)*w*3:]
			for xx := 0; xx < outW; xx++ {
				xmin, n := bx[2*xx], bx[2*xx+1]
				k := kx[xx*ksx:]
				for c := 0; c < 3; c++ {
					ss := int64(1) << (precisionBits - 1)
					for x := 0; x < n; x++ {
						ss += int64(in[(x+xmin)*3+c]) * int64(k[x])
					}
					tmp[(y*outW+xx)*3+c] = clip8(ss)
				}
			}
		}
		src, yOff = tmp, first
	}
	if h == outH {
		return src
	}
	out := make([]uint8, outH*outW*3)
	for yy := 0; yy < outH; yy++ {
		ymin, n := by[2*yy]-yOff, by[2*yy+1]
		k := ky[yy*ksy:]
		for xx := 0; xx < outW; xx++ {
			for c := 0; c < 3; c++ {
				ss := int64(1) << (precisionBits - 1)
				for y := 0; y < n; y++ {
					ss += int64(src[((y+ymin)*outW+xx)*3+c]) * int64(k[y])
				}
				out[(yy*outW+xx)*3+c] = clip8(ss)
			}
		}
	}
	return out
}
