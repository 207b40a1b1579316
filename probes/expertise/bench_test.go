package expertise

import (
	"math"
	"runtime"
	"strconv"
	"syscall"
	"testing"
)

// synthetic is a Responses generated on the fly, identical to what
// testdata/bench_sklearn_ap.py generates in numpy, so that Go and sklearn score the same
// matrix: for example e and neuron j,
//
//	u = (splitmix64(j·E + e) >> 40) · 2^−24              (a float32 in [0, 1))
//	v = ⌊16u⌋/16 when j % 10 == 0 (ties), else u
//	v += (j % 5)·0.125 when e < P (the positives carry a neuron-dependent signal)
type synthetic struct{ examples, neurons, positives int }

func splitmix64(x uint64) uint64 {
	x += 0x9E3779B97F4A7C15
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9
	x = (x ^ (x >> 27)) * 0x94D049BB133111EB
	return x ^ (x >> 31)
}

func (s synthetic) Dims() (int, int) { return s.examples, s.neurons }

func (s synthetic) Columns(dst []float32, rows []int, lo, hi int) error {
	m := len(rows)
	for j := lo; j < hi; j++ {
		col := dst[(j-lo)*m : (j-lo+1)*m]
		base := uint64(j) * uint64(s.examples)
		shift := float32(j%5) * 0.125
		for r, e := range rows {
			v := float32(splitmix64(base+uint64(e))>>40) * (1.0 / (1 << 24))
			if j%10 == 0 {
				v = float32(math.Floor(float64(v*16))) / 16
			}
			if e < s.positives {
				v += shift
			}
			col[r] = v
		}
	}
	return nil
}

// llama7B: 32 × (11008 + 11008 + 4096) FFN units, 300 positives + 1,200 negatives (the
// relation paper's 4× negatives).
var llama7B = synthetic{examples: 1500, neurons: 835584, positives: 300}

func benchRows(s synthetic) ([]int, []bool) {
	rows := make([]int, s.examples)
	pos := make([]bool, s.examples)
	for e := range rows {
		rows[e] = e
		pos[e] = e < s.positives
	}
	return rows, pos
}

func maxRSSMB() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return math.NaN()
	}
	return float64(ru.Maxrss) / 1024 // KiB on Linux
}

// BenchmarkAveragePrecisionsLlama7B scores every neuron of a Llama-2-7B-sized problem
// (835,584 neurons × 1,500 examples) streaming over neurons in chunks. Run with
// -benchtime=1x; the reported ns/neuron includes generating the synthetic responses
// (BenchmarkSyntheticResponses measures that alone).
func BenchmarkAveragePrecisionsLlama7B(b *testing.B) {
	for _, workers := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run("workers="+strconv.Itoa(workers), func(b *testing.B) {
			rows, pos := benchRows(llama7B)
			dst := make([]float64, llama7B.neurons)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := AveragePrecisions(dst, llama7B, rows, pos, Options{Workers: workers}); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(llama7B.neurons), "ns/neuron")
			b.ReportMetric(maxRSSMB(), "peak-RSS-MB")
			// Spot values to compare with testdata/bench_sklearn_ap.py's output.
			b.Logf("AP of neurons 0 1 7 777 1999: %.17g %.17g %.17g %.17g %.17g", dst[0], dst[1], dst[7], dst[777], dst[1999])
		})
	}
}

// BenchmarkSyntheticResponses is the cost of generating the benchmark's responses alone.
func BenchmarkSyntheticResponses(b *testing.B) {
	rows, _ := benchRows(llama7B)
	const chunk = 512
	buf := make([]float32, chunk*len(rows))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for lo := 0; lo < llama7B.neurons; lo += chunk {
			llama7B.Columns(buf[:(min(lo+chunk, llama7B.neurons)-lo)*len(rows)], rows, lo, min(lo+chunk, llama7B.neurons))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(llama7B.neurons), "ns/neuron")
}

// BenchmarkScorer is the per-neuron cost of one AP on 1,500 examples (one goroutine).
func BenchmarkScorer(b *testing.B) {
	rows, pos := benchRows(llama7B)
	const cols = 1000
	block := make([]float32, cols*len(rows))
	llama7B.Columns(block, rows, 0, cols)
	var s Scorer
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j := i % cols
		if _, err := s.AveragePrecision(block[j*len(rows):(j+1)*len(rows)], pos); err != nil {
			b.Fatal(err)
		}
	}
}
