package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"

	"github.com/neuronscope/neuronscope/internal/atomicfile"
	"github.com/neuronscope/neuronscope/probes/labels"
	"github.com/neuronscope/neuronscope/probes/profile"
	"github.com/spf13/cobra"
)

func init() { extraCommands = append(extraCommands, newReportCmd) }

func newReportCmd() *cobra.Command {
	var in, out, title, labelsPath string
	var limit int
	cmd := &cobra.Command{
		Use:   "report (--in DIR [--labels labels.json] | --labels labels.json) --out report.html [--limit 200]",
		Short: "Write a self-contained static HTML dashboard of a profile run (no network requests)",
		Long: `Report reads DIR/profile.json (written by neuronscope profile) and writes one static HTML page
with everything inline (no network requests; a Content-Security-Policy forbids them): a neuron
index sortable by hook, layer, max/min activation, mean and density, and per neuron the
activation histogram, the top max and min examples with tokens shaded by activation, quantile
samples, LM-head and DLA tokens side by side, and any labels and verification verdicts in the report.

--labels adds a label file (neuronscope.labels/v1, written by neuronscope verify): every labelled
neuron shows its labels and verdicts, and a section shows the label table, each group × group matrix
as a heatmap and each cumulativity sweep as a line plot with the random band. The labels must come
from the profiled model (same config hash). Without --in, the page shows the labels alone.`,
		Example: `  neuronscope report --in profile-world --out profile-world/report.html
  neuronscope report --in profile-world --out report.html --limit 0 --title "world-llama neurons"
  neuronscope report --in profile-world --labels neuronscope-demo/labels.json --out report.html`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (in == "" && labelsPath == "") || out == "" {
				return usagef("--out and --in (or --labels) are required")
			}
			if limit < 0 {
				return usagef("--limit %d: want at least 0 (0: detail every neuron)", limit)
			}
			if err := checkOutFile("--out", out); err != nil {
				return err
			}
			var lf *labels.File
			if labelsPath != "" {
				var err error
				if lf, err = labels.ReadFile(labelsPath); err != nil {
					return usagef("--labels: %v", err)
				}
			}
			if in == "" {
				err := atomicfile.Write(out, func(w *bufio.Writer) error { return profile.WriteLabelsHTML(w, lf, title) })
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "wrote %s\n", out)
				return nil
			}
			path := filepath.Join(in, "profile.json")
			if _, err := os.Stat(path); err != nil {
				return usagef("--in %s: no profile.json (run neuronscope profile first)", in)
			}
			rep, err := profile.ReadReportTop(path, limit)
			if err != nil {
				return usageError{err}
			}
			if lf != nil {
				if err := lf.CheckModel(rep.Provenance, "--labels "+labelsPath); err != nil {
					return usageError{err}
				}
			}
			err = atomicfile.Write(out, func(w *bufio.Writer) error {
				return profile.WriteHTML(w, rep, profile.HTMLOptions{MaxNeurons: limit, Title: title, Labels: lf})
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
	cmd.Flags().StringVar(&labelsPath, "labels", "", "label file (neuronscope.labels/v1) to show: labels, verdicts, matrix heatmaps and sweep plots")
	return cmd
}
