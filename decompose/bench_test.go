package decompose

import (
	"context"
	"runtime"
	"syscall"
	"testing"

	"github.com/neuronscope/neuronscope/internal/linalg"
)

// benchMatrix builds the benchmark activations bit for bit as testdata/bench_snmf_torch.py
// does: x = (torch.rand(n, d) * 2 - 1).clamp_min(-0.17) after torch.manual_seed(1) (every
// step exact in float32).
func benchMatrix(n, d int) []float32 {
	r := newMT19937(1)
	x := make([]float32, n*d)
	lo := float32(-0.17)
	for i := range x {
		x[i] = max(r.float32()*2-1, lo)
	}
	return x
}

// BenchmarkSNMFIteration times one SNMF iteration at GPT-2 small's layer size (d_mlp 3072),
// n = 8192 tokens, rank 100, sparsity 0.01, from the random init with seed 42: the Go side of
// the comparison with testdata/bench_snmf_torch.py (same matrix, same G0). It reports wall
// time and process CPU time per iteration. Run
//
//	CGO_ENABLED=1 CGO_LDFLAGS=-lopenblas go test -tags openblas -run '^$' -bench SNMFIteration -benchtime 20x -cpu 2 ./decompose/
//
// or both sides alternately with sh decompose/testdata/bench_compare.sh THREADS ROUNDS (numbers
// in doc.go).
func BenchmarkSNMFIteration(b *testing.B) {
	const n, d, k = 8192, 3072, 100
	x := benchMatrix(n, d)
	opt := DefaultOptions()
	opt.Rank = k
	s := newFitter(x, n, d, opt)
	if err := s.init(context.Background()); err != nil {
		b.Fatal(err)
	}
	var sx, sg float64
	for _, v := range x {
		sx += float64(v)
	}
	for _, v := range s.g {
		sg += float64(v)
	}
	b.Logf("%s, GOMAXPROCS %d; checksum x %.6f  G0 %.6f", linalg.Backend(), runtime.GOMAXPROCS(0), sx, sg)
	s.best = 1e300
	for it := 0; it < 3; it++ { // warm-up, as the Python side
		s.iterate(it)
	}
	b.ResetTimer()
	cpu0 := cpuSeconds()
	var loss float64
	for i := 0; i < b.N; i++ {
		loss, _, _ = s.iterate(3 + i)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N), "ms/iter")
	// Process CPU time (all threads): with one thread, the work, whatever the machine's load.
	b.ReportMetric((cpuSeconds()-cpu0)*1e3/float64(b.N), "cpu-ms/iter")
	b.Logf("loss after %d iterations %.6f (best %.6f)", 3+b.N, loss, s.best)
}

// cpuSeconds is the process's user + system CPU time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}
