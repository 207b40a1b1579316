package main

import (
	"encoding/json"
	"fmt"
	"runtime"

	"github.com/neuronscope/neuronscope/internal/linalg"
	"github.com/neuronscope/neuronscope/model/report"
	"github.com/spf13/cobra"
)

// versionLine is what `neuronscope version` and `neuronscope --version` print.
func versionLine() string {
	return fmt.Sprintf("neuronscope %s (%s, BLAS: %s)\n", report.Version, runtime.Version(), linalg.Backend())
}

func newVersionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version and the active BLAS backend",
		Example: `  neuronscope version
  neuronscope version --json
  neuronscope --version`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(map[string]string{
					"version": report.Version, "go": runtime.Version(), "blas": linalg.Backend()})
			}
			fmt.Fprint(cmd.OutOrStdout(), versionLine())
			if !linalg.Fast() {
				fmt.Fprintln(cmd.OutOrStdout(), "hint: this is the pure-Go build; build with `make build` (OpenBLAS) for ~15x faster matrix products")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
