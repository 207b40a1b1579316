package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"

	"github.com/neuronscope/neuronscope/internal/atomicfile"
	"github.com/neuronscope/neuronscope/probes/profile"
	"github.com/spf13/cobra"
)

func init() { extraCommands = append(extraCommands, newReportCmd) }

func newReportCmd() *cobra.Command {
	var in, out, title string
	var limit int
	cmd := &cobra.Command{
		Use:   "report --in DIR --out report.html [--limit 200]",
		Short: "Write a self-contained static HTML dashboard of a profile run (no network requests)",
		Long: `Report reads DIR/profile.json (written by neuronscope profile) and writes one static HTML page
with everything inline (no network requests; a Content-Security-Policy forbids them): a neuron
index sortable by hook, layer, max/min activation, mean and density, and per neuron the
activation histogram, the top max and min examples with tokens shaded by activation, quantile
samples, LM-head and DLA tokens side by side, and any labels and verification verdicts in the report.`,
		Example: `  neuronscope report --in profile-world --out profile-world/report.html
  neuronscope report --in profile-world --out report.html --limit 0 --title "world-llama neurons"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if in == "" || out == "" {
				return usagef("--in and --out are required")
			}
			if limit < 0 {
				return usagef("--limit %d: want at least 0 (0: detail every neuron)", limit)
			}
			if err := checkOutFile("--out", out); err != nil {
				return err
			}
			path := filepath.Join(in, "profile.json")
			if _, err := os.Stat(path); err != nil {
				return usagef("--in %s: no profile.json (run neuronscope profile first)", in)
			}
			rep, err := profile.ReadReportTop(path, limit)
			if err != nil {
				return usageError{err}
			}
			err = atomicfile.Write(out, func(w *bufio.Writer) error {
				return profile.WriteHTML(w, rep, profile.HTMLOptions{MaxNeurons: limit, Title: title})
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s\n", out)
			return nil
		},
	}
	cmd.Flags().StringVar(&in, "in", "", "directory written by neuronscope profile")
	cmd.Flags().StringVar(&out, "out", "", "output HTML file")
	cmd.Flags().IntVar(&limit, "limit", 200, "detail only the N neurons with the largest max activation; the index lists all (0: detail all)")
	cmd.Flags().StringVar(&title, "title", "", "page title")
	return cmd
}
