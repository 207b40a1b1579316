package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/modeltest"
)

// BenchmarkSpectraCommand measures `neuronscope spectra` end to end on a GPT-2-small-shaped
// checkpoint (modeltest.GPT2Small's random weights, saved to a temporary directory) over
// NEURONSCOPE_SPECTRA_TOKENS tokens (default 8192: 64 documents of 128 random ids, --ctx 128,
// --batch 8) against the plain forward over the same batches (the command's hidden
// --forward-only). Each iteration runs the three commands in rotating order: forward only,
// spectra of every layer's hook_pre and hook_post with float64 products, and with
// --float32-products. It reports, from the commands' own timings (stderr):
//
//	stream_ratio_f64/f32   streaming time / plain forward time over the same batches
//	analysis_s             the 24 eigendecompositions (width 3072), measures and plot
//	projected_1M_f64/f32   (stream time per token · 1e6 + analysis) / (forward per token · 1e6)
//	wall_ratio_f64/f32     whole command / whole --forward-only command at this token count
//
// Run it with the OpenBLAS build:
//
//	CGO_ENABLED=1 CGO_LDFLAGS=-lopenblas go test -tags openblas -run '^$' -bench SpectraCommand -benchtime 1x ./cmd/neuronscope
func BenchmarkSpectraCommand(b *testing.B) {
	tokens := 8192
	if s := os.Getenv("NEURONSCOPE_SPECTRA_TOKENS"); s != "" {
		var err error
		if tokens, err = strconv.Atoi(s); err != nil || tokens < 128 {
			b.Fatalf("NEURONSCOPE_SPECTRA_TOKENS=%q: want an integer ≥ 128", s)
		}
	}
	m := modeltest.GPT2Small(b)
	js, _ := model.PresetJSON("gpt2-small")
	dir := b.TempDir()
	mdir := filepath.Join(dir, "gpt2-small")
	if err := m.Save(mdir, js, "F32"); err != nil {
		b.Fatal(err)
	}
	m.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	var data strings.Builder
	for range tokens / 128 {
		ids := make([]string, 128)
		for i := range ids {
			ids[i] = strconv.Itoa(rng.IntN(m.Config.DVocab))
		}
		fmt.Fprintf(&data, "[%s]\n", strings.Join(ids, ","))
	}
	dataPath := filepath.Join(dir, "data.jsonl")
	if err := os.WriteFile(dataPath, []byte(data.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	streamRE := regexp.MustCompile(`(?:streamed|forward only:) (\d+) tokens in ([0-9.]+) s`)
	analysisRE := regexp.MustCompile(`eigendecompositions and measures in ([0-9.]+) s`)
	variants := []struct {
		name  string
		extra []string
	}{{"plain", []string{"--forward-only"}}, {"f64", nil}, {"f32", []string{"--float32-products"}}}
	stream := map[string]float64{}
	whole := map[string]float64{}
	var analysis float64
	var analyses int
	b.ResetTimer()
	for i := range b.N {
		for k := range variants {
			v := variants[(i+k)%len(variants)]
			args := append([]string{"spectra", "--model", mdir, "--data", dataPath, "--ctx", "128", "--batch", "8",
				"--no-progress", "--checkpoint-every", "0", "--out", filepath.Join(dir, "out-"+v.name)}, v.extra...)
			w0 := time.Now()
			stdout, stderr, err := run(args...)
			whole[v.name] += time.Since(w0).Seconds()
			if err != nil {
				b.Fatalf("%s: %v\n%s", v.name, err, stderr)
			}
			sm := streamRE.FindStringSubmatch(stdout + stderr)
			if sm == nil {
				b.Fatalf("%s: no timing in the output:\n%s%s", v.name, stdout, stderr)
			}
			sec, _ := strconv.ParseFloat(sm[2], 64)
			stream[v.name] += sec
			if am := analysisRE.FindStringSubmatch(stderr); am != nil {
				a, _ := strconv.ParseFloat(am[1], 64)
				analysis += a
				analyses++
			}
		}
	}
	n := float64(b.N)
	plainPerTok := stream["plain"] / n / float64(tokens)
	b.ReportMetric(1/plainPerTok, "plain_tok/s")
	analysis /= float64(max(analyses, 1))
	b.ReportMetric(analysis, "analysis_s")
	for _, v := range []string{"f64", "f32"} {
		b.ReportMetric(stream[v]/stream["plain"], "stream_ratio_"+v)
		perTok := stream[v] / n / float64(tokens)
		b.ReportMetric((perTok*1e6+analysis)/(plainPerTok*1e6), "projected_1M_"+v)
		b.ReportMetric(whole[v]/whole["plain"], "wall_ratio_"+v)
	}
	b.ReportMetric(0, "ns/op")
}
