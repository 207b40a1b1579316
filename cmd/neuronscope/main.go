// Command neuronscope is the command-line front door of the neuronscope toolkit: load a local
// Hugging Face checkpoint, run it with TransformerLens-named hooks, and write reports.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/report"
	"github.com/neuronscope/neuronscope/probes/distributed"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// usageError marks bad flags or arguments (exit code 2); other errors exit with 1.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// inputError marks errors about the input data (corpus.InputError) as usage errors; others
// pass through.
func inputError(err error) error {
	var ie *corpus.InputError
	if errors.As(err, &ie) {
		return usageError{err}
	}
	return err
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "neuronscope",
		Short:         "Mechanistic interpretability of transformer MLP neurons, on local Hugging Face checkpoints",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       report.Version,
	}
	root.SetVersionTemplate(versionLine())
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{plainFlagError(err)} })
	root.AddCommand(newVersionCmd(), newInspectCmd(), newTraceCmd(), newGenerateCmd(), newTokenizeCmd())
	for _, extra := range extraCommands {
		root.AddCommand(extra())
	}
	return root
}

// plainFlagError restates a flag value that does not parse without Go's parser names
// ("strconv.ParseInt: parsing ...").
func plainFlagError(err error) error {
	var iv *pflag.InvalidValueError
	if !errors.As(err, &iv) {
		return err
	}
	want := map[string]string{"int": "an integer", "int64": "an integer", "int32": "an integer", "uint64": "a non-negative integer",
		"uint": "a non-negative integer", "float64": "a number", "float32": "a number", "bool": "true or false"}[iv.GetFlag().Value.Type()]
	if want == "" {
		return err
	}
	return fmt.Errorf("--%s %q: want %s", iv.GetFlag().Name, iv.GetValue(), want)
}

// extraCommands lets other files register subcommands without editing this list.
var extraCommands []func() *cobra.Command

func main() {
	distributed.RunIfWorker() // a Beam runner started this binary as a pipeline worker
	root := newRoot()
	if err := root.Execute(); err != nil {
		fmt.Fprintf(os.Stderr, "neuronscope: %v\n", err)
		var u usageError
		if errors.As(err, &u) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}
