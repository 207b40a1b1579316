package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/internal/linalg"
	"github.com/neuronscope/neuronscope/internal/perf"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/report"
	"github.com/spf13/cobra"
)

type benchRun struct {
	Seconds      float64 `json:"seconds_per_forward"`
	TokensPerSec float64 `json:"tokens_per_s"`
	GFLOPS       float64 `json:"gflop_per_s"`
	RatioToSgemm float64 `json:"ratio_to_sgemm"`
}

type benchOut struct {
	Config          string   `json:"config"`
	Batch           int      `json:"batch"`
	Seq             int      `json:"seq"`
	Params          int64    `json:"n_params"`
	BLAS            string   `json:"blas_backend"`
	SgemmGFLOPS     float64  `json:"machine_sgemm_gflop_per_s"`
	FLOPsPerForward float64  `json:"flops_per_forward"`
	Plain           benchRun `json:"forward"`
	HookPost        benchRun `json:"forward_capturing_every_hook_post"`
	HookOverhead    float64  `json:"hook_post_capture_overhead"`
	Version         string   `json:"version"`
}

func newBenchCmd() *cobra.Command {
	var preset, loadDir string
	var batch, seq, reps int
	cmd := &cobra.Command{
		Use:   "bench [--config " + strings.Join(model.Presets(), "|") + "] [--batch 8] [--seq 128] [--reps 3] [--load DIR]",
		Short: "Benchmark the forward pass at a real model shape (random weights in memory; --config, default gpt2-small); prints JSON",
		Example: `  neuronscope bench
  neuronscope bench --config llama-1b --batch 1 --seq 512
  neuronscope bench --load testdata/world-llama`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if loadDir != "" {
				if st, err := os.Stat(loadDir); err != nil || !st.IsDir() {
					return usagef("--load %s: not a directory", loadDir)
				}
				st, err := measureLoad(loadDir)
				if err != nil {
					return err
				}
				return report.WriteJSON(cmd.OutOrStdout(), st)
			}
			if err := checkRanges(intAtLeast("--batch", batch, 1), intAtLeast("--seq", seq, 1), intAtLeast("--reps", reps, 1)); err != nil {
				return err
			}
			cfg, err := model.PresetConfig(preset)
			if err != nil {
				return usageError{err}
			}
			if seq > cfg.MaxPos {
				return usagef("--seq %d exceeds the %s's %d positions", seq, preset, cfg.MaxPos)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "building random %s weights in memory…\n", preset)
			m, err := model.NewRandom(cfg, 1)
			if err != nil {
				return err
			}
			out := benchOut{Config: preset, Batch: batch, Seq: seq, Params: m.ParamCount(), BLAS: linalg.Backend(), Version: report.Version}
			fmt.Fprintln(cmd.ErrOrStderr(), "measuring sgemm…")
			out.SgemmGFLOPS = perf.SgemmGFLOPS(2048, 2048, 2048, 5)
			out.FLOPsPerForward = perf.ShapeOf(cfg).ForwardFLOPs(batch, seq)
			b := benchBatch(cfg, batch, seq)
			measure := func(opts ...hooks.Option) (benchRun, error) {
				if _, err := m.Forward(b, opts...); err != nil { // warm-up
					return benchRun{}, err
				}
				best := time.Duration(1<<63 - 1)
				for i := 0; i < reps; i++ {
					t0 := time.Now()
					if _, err := m.Forward(b, opts...); err != nil {
						return benchRun{}, err
					}
					best = min(best, time.Since(t0))
				}
				s := best.Seconds()
				g := out.FLOPsPerForward / s / 1e9
				return benchRun{Seconds: s, TokensPerSec: float64(batch*seq) / s, GFLOPS: g, RatioToSgemm: g / out.SgemmGFLOPS}, nil
			}
			fmt.Fprintln(cmd.ErrOrStderr(), "timing forward…")
			if out.Plain, err = measure(); err != nil {
				return err
			}
			fmt.Fprintln(cmd.ErrOrStderr(), "timing forward capturing every hook_post…")
			if out.HookPost, err = measure(hooks.Capture("blocks.*.mlp.hook_post")); err != nil {
				return err
			}
			out.HookOverhead = out.HookPost.Seconds/out.Plain.Seconds - 1
			return report.WriteJSON(cmd.OutOrStdout(), out)
		},
	}
	cmd.Flags().StringVar(&preset, "config", "gpt2-small", fmt.Sprintf("model shape: one of %v", model.Presets()))
	cmd.Flags().IntVar(&batch, "batch", 8, "batch size")
	cmd.Flags().IntVar(&seq, "seq", 128, "tokens per row")
	cmd.Flags().IntVar(&reps, "reps", 3, "timed repetitions (best is reported)")
	cmd.Flags().StringVar(&loadDir, "load", "", "instead: measure loading this checkpoint (time, peak RSS vs float32 size)")
	return cmd
}

func benchBatch(cfg *model.Config, batch, seq int) model.Batch {
	b := model.Batch{Size: batch, Len: seq, IDs: make([]int, batch*seq), Mask: make([]bool, batch*seq)}
	for i := range b.IDs {
		b.IDs[i] = (i*7919 + 13) % cfg.DVocab
		b.Mask[i] = true
	}
	return b
}

func init() { extraCommands = append(extraCommands, newBenchCmd) }

// loadStats measures loading a checkpoint: time and the process's peak RSS growth against the
// weights' float32 size.
type loadStats struct {
	ModelDir     string  `json:"model_dir"`
	StoredDType  string  `json:"stored_dtype"`
	StoredBytes  int64   `json:"stored_bytes"`
	Float32Bytes int64   `json:"float32_bytes"`
	LoadSeconds  float64 `json:"load_seconds"`
	PeakRSSBytes int64   `json:"peak_rss_growth_bytes"`
	RatioToF32   float64 `json:"peak_rss_over_float32_size"`
}

func measureLoad(dir string) (loadStats, error) {
	before := peakRSS()
	t0 := time.Now()
	m, err := model.Load(dir)
	if err != nil {
		return loadStats{}, err
	}
	defer m.Close()
	s := loadStats{ModelDir: dir, StoredDType: m.StoredDType, StoredBytes: m.StoredBytes, Float32Bytes: 4 * m.ParamCount(),
		LoadSeconds: time.Since(t0).Seconds()}
	s.PeakRSSBytes = peakRSS() - before
	s.RatioToF32 = float64(s.PeakRSSBytes) / float64(s.Float32Bytes)
	return s, nil
}

// peakRSS reads VmHWM (peak resident set) from /proc/self/status, in bytes; 0 if unavailable.
func peakRSS() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), &kb)
			return kb * 1024
		}
	}
	return 0
}
