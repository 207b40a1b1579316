package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/internal/linalg"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/tokenizer"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
)

// modelFlags are the flags every model-loading command shares.
type modelFlags struct {
	dir            string
	strict         bool
	allowUnknown   bool // --allow-unknown-config-keys: the old default-off flag, now a no-op
	allowNonFinite bool
	// text, when set, names a command that works on text only: load refuses an image
	// classifier with an error naming it.
	text string
}

func (f *modelFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.dir, "model", "", "Hugging Face checkpoint directory (config.json + *.safetensors)")
	cmd.Flags().BoolVar(&f.strict, "strict-config", false, "refuse a config.json with keys neuronscope has never seen (default: ignore them with a warning)")
	cmd.Flags().BoolVar(&f.allowUnknown, "allow-unknown-config-keys", false, "no-op: unknown config keys are warnings unless --strict-config")
	cmd.Flags().MarkHidden("allow-unknown-config-keys")
	cmd.Flags().BoolVar(&f.allowNonFinite, "allow-nonfinite", false, "run on weights holding NaN/Inf values (refused by default); outputs record it in their provenance warnings")
}

func (f *modelFlags) load(cmd *cobra.Command) (*model.Model, error) {
	if f.dir == "" {
		return nil, usagef("--model is required")
	}
	if st, err := os.Stat(f.dir); err != nil || !st.IsDir() {
		return nil, usagef("--model %s: not a directory", f.dir)
	}
	m, err := model.LoadWith(f.dir, model.Options{StrictConfig: f.strict, AllowNonFinite: f.allowNonFinite})
	var nf *model.NonFiniteError
	if errors.As(err, &nf) {
		return nil, usagef("--model %s: %v; a model with NaN/Inf weights computes NaN (give --allow-nonfinite to run on it anyway)", f.dir, nf)
	}
	if err != nil {
		return nil, err
	}
	if f.text != "" {
		if err := textOnly(m, f.text); err != nil {
			m.Close()
			return nil, err
		}
	}
	for _, w := range m.Warnings {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", w)
	}
	if !linalg.Fast() && m.ParamCount() > 50_000_000 {
		fmt.Fprintln(cmd.ErrOrStderr(), "hint: pure-Go BLAS with a large model is slow; build with `make build` (OpenBLAS)")
	}
	return m, nil
}

// parseIDs parses repeated --ids "1,2,3" values.
func parseIDs(vals []string) ([][]int, error) {
	var out [][]int
	for i, v := range vals {
		var seq []int
		for _, f := range strings.Split(v, ",") {
			f = strings.TrimSpace(f)
			if f == "" {
				continue
			}
			id, err := strconv.Atoi(f)
			if err != nil {
				return nil, usagef("--ids #%d: %q is not a token id", i+1, f)
			}
			seq = append(seq, id)
		}
		if len(seq) == 0 {
			return nil, usagef("--ids #%d is empty", i+1)
		}
		out = append(out, seq)
	}
	return out, nil
}

// splitPatterns splits repeated, comma-separated --hooks values.
func splitPatterns(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func pointNames(ps []hooks.Point) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// loadTokenizer loads the checkpoint's tokenizer.json; its absence is a usage error.
func loadTokenizer(m *model.Model) (*tokenizer.Tokenizer, error) { return loadTokenizerDir(m.Dir) }

// loadTokenizerDir loads dir/tokenizer.json; its absence is a usage error.
func loadTokenizerDir(dir string) (*tokenizer.Tokenizer, error) {
	path := filepath.Join(dir, "tokenizer.json")
	if _, err := os.Stat(path); err != nil {
		if _, perr := os.Stat(filepath.Join(dir, "preprocessor_config.json")); perr == nil {
			return nil, usagef("%s is an image classifier (preprocessor_config.json, no tokenizer.json): it takes --image FILE, not text", dir)
		}
		return nil, usagef("text needs the model's tokenizer.json, and %s has none (give token ids instead)", dir)
	}
	return tokenizer.Load(path)
}

// newBar is the progress bar of long runs, on stderr: a count of total items called unit, the
// rate and the time left.
func newBar(cmd *cobra.Command, total int64, what, unit string) *progressbar.ProgressBar {
	return progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(cmd.ErrOrStderr()),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionSetItsString(unit),
		progressbar.OptionShowIts(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(cmd.ErrOrStderr()) }))
}

// checkOutFile checks, before any work starts, that an output file can be written: its
// directory exists and takes a new file, and path is not a directory. Errors are usage errors
// naming the flag.
func checkOutFile(flag, path string) error {
	if path == "" {
		return usagef("%s is required", flag)
	}
	dir := filepath.Dir(path)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return usagef("%s %s: directory %s does not exist", flag, path, dir)
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return usagef("%s %s is a directory", flag, path)
	}
	return checkWritable(flag, path, dir)
}

// checkOutDir checks, before any work starts, that an output directory can be written: it is
// a directory, or it does not exist yet and its nearest existing parent is a directory that
// takes new entries. Nothing is created.
func checkOutDir(flag, path string) error {
	if path == "" {
		return usagef("%s is required", flag)
	}
	dir := filepath.Clean(path)
	for {
		st, err := os.Stat(dir)
		if err == nil {
			if !st.IsDir() {
				if dir == filepath.Clean(path) {
					return usagef("%s %s is a file, not a directory", flag, path)
				}
				return usagef("%s %s: %s is a file, not a directory", flag, path, dir)
			}
			return checkWritable(flag, path, dir)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return usagef("%s %s: no existing parent directory", flag, path)
		}
		dir = parent
	}
}

// checkWritable checks that dir takes a new file (by creating and removing an empty one).
func checkWritable(flag, path, dir string) error {
	f, err := os.CreateTemp(dir, ".neuronscope-check-*")
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return usagef("%s %s: cannot write in %s: %v", flag, path, dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// makeOutDir creates an output directory that checkOutDir accepted, with any missing parents,
// and returns a function to call when the run fails: it removes again, innermost first, the
// directories this call created that are still empty, so a failed run leaves no empty output
// directory behind.
func makeOutDir(path string) (cleanup func(), err error) {
	var created []string
	for dir := filepath.Clean(path); ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(dir); err == nil || filepath.Dir(dir) == dir {
			break
		}
		created = append(created, dir)
	}
	if err := os.MkdirAll(path, 0o755); err != nil {
		return func() {}, err
	}
	return func() {
		for _, dir := range created {
			if os.Remove(dir) != nil { // not empty (or gone): keep it and its parents
				return
			}
		}
	}, nil
}

// rangeCheck is one flag's range check: ok, or the error naming the flag.
type rangeCheck struct {
	ok  bool
	msg string
}

// intAtLeast checks that an integer flag is at least lo.
func intAtLeast(flag string, v, lo int) rangeCheck {
	return rangeCheck{v >= lo, fmt.Sprintf("%s %d: want at least %d", flag, v, lo)}
}

// floatIn checks that a float flag is in (lo, hi] (or [lo, hi] when closed).
func floatIn(flag string, v, lo, hi float64, closed bool) rangeCheck {
	ok := v > lo && v <= hi
	want := fmt.Sprintf("(%g, %g]", lo, hi)
	if closed {
		ok, want = v >= lo && v <= hi, fmt.Sprintf("[%g, %g]", lo, hi)
	}
	return rangeCheck{ok, fmt.Sprintf("%s %g: want a value in %s", flag, v, want)}
}

// checkRanges returns the usage error of the first failed check.
func checkRanges(checks ...rangeCheck) error {
	for _, c := range checks {
		if !c.ok {
			return usagef("%s", c.msg)
		}
	}
	return nil
}

// interruptible is the command's context, cancelled on Ctrl-C or SIGTERM (stop releases it):
// long runs check it between batches and checkpoint or clean up.
func interruptible(cmd *cobra.Command) (ctx context.Context, stop context.CancelFunc) {
	ctx = cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}

// forwardOnly runs contexts through the plain forward in the batches opt describes (the
// baseline of a streaming command's hidden --forward-only), advancing bar, and prints tokens/s.
func forwardOnly(cmd *cobra.Command, m *model.Model, contexts func(yield func(corpus.Context) error) error, opt corpus.RunOptions, bar *progressbar.ProgressBar) error {
	var tokens int64
	t0 := time.Now()
	opt.After = func(b *corpus.Batch) error {
		tokens += b.Tokens()
		if bar != nil {
			_ = bar.Add64(b.Tokens())
		}
		return nil
	}
	if err := corpus.Run(m, contexts, opt); err != nil {
		return inputError(err)
	}
	if bar != nil {
		_ = bar.Finish()
	}
	el := time.Since(t0)
	fmt.Fprintf(cmd.OutOrStdout(), "forward only: %d tokens in %.2f s (%.1f tok/s)\n", tokens, el.Seconds(), float64(tokens)/el.Seconds())
	return nil
}
