// Command neuronscope is the command-line front door of the neuronscope toolkit: load a local
// Hugging Face checkpoint, run it with TransformerLens-named hooks, and write reports.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/probes/distributed"
	"github.com/spf13/cobra"
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
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newVersionCmd(), newInspectCmd(), newTraceCmd(), newGenerateCmd(), newTokenizeCmd())
	for _, extra := range extraCommands {
		root.AddCommand(extra())
	}
	return root
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
