package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/neuronscope/neuronscope/probes/distributed"
	"github.com/spf13/cobra"
)

// beamFlags select a distributed run (package distributed: an Apache Beam pipeline).
type beamFlags struct {
	runner, endpoint, envType, envConfig, workerModel string
	shards                                            int
	verbose                                           bool
}

func (f *beamFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.runner, "runner", "", "run as an Apache Beam pipeline on this runner: prism (embedded), direct, universal (a job server: Flink, Spark, Prism); --data may then be globs")
	fl.StringVar(&f.endpoint, "endpoint", "", "with --runner universal (or a Prism server): the job server's HOST:PORT")
	fl.StringVar(&f.envType, "environment-type", "", "with --runner: how workers start: LOOPBACK (in this process; default), DOCKER, PROCESS, EXTERNAL")
	fl.StringVar(&f.envConfig, "environment-config", "", "with --environment-type DOCKER: the worker image; PROCESS/EXTERNAL: their configuration")
	fl.StringVar(&f.workerModel, "worker-model", "", "with --runner: the model directory as the workers see it (default: --model)")
	fl.IntVar(&f.shards, "shards", 2, "with --runner: shards after the calibration prefix (a multiple of the workers)")
	fl.BoolVar(&f.verbose, "beam-logs", false, "with --runner: show the Beam SDK's and runner's logs")
}

// beamArgs are the flags of a distributed run, left out of the provenance's command line so
// that it equals a single-process run's.
var beamArgs = []string{"--runner", "--endpoint", "--environment-type", "--environment-config", "--worker-model", "--shards", "--beam-logs"}

func withoutBeamFlags(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		name, _, eq := strings.Cut(args[i], "=")
		if slices.Contains(beamArgs, name) {
			if !eq && name != "--beam-logs" {
				i++ // its value
			}
			continue
		}
		out = append(out, args[i])
	}
	return out
}

// runProfileBeam is `profile --runner`: the same checks, settings and outputs as the local
// run, computed by distributed.ProfilePipeline. The launcher reads the data once to number the
// contexts; the workers load the model from --worker-model (default --model).
func runProfileBeam(cmd *cobra.Command, mf *modelFlags, f *profileFlags) error {
	b := &f.beam
	if !slices.Contains(distributed.Runners, b.runner) {
		return usagef("--runner %q: want one of %s", b.runner, strings.Join(distributed.Runners, ", "))
	}
	if b.runner == "universal" && b.endpoint == "" {
		return usagef("--runner universal needs --endpoint HOST:PORT (the job server)")
	}
	if b.shards < 1 {
		return usagef("--shards must be ≥ 1")
	}
	if f.resume || f.fwdOnly || f.stopAfter > 0 {
		return usagef("--resume applies to a local run (a pipeline writes its outputs only at the end; rerun it)")
	}
	files, err := distributed.ExpandData(strings.Split(f.data, ","))
	if err != nil {
		return usagef("--data: %v", err)
	}
	sum, err := distributed.DataSHA256(files)
	if err != nil {
		return usagef("--data: %v", err)
	}
	s, err := setupProfile(cmd, mf, f, sum)
	if err != nil {
		return err
	}
	m, points, opt, set := s.m, s.points, s.opt, s.set
	defer m.Close()
	plan, err := distributed.NewPlan(files, s.enc, f.ctx, f.maxTokens)
	if err != nil {
		return inputError(err)
	}
	if plan.Tokens == 0 {
		return usagef("--data %s has no tokens", f.data)
	}
	prov := s.provenance(f)
	prov.Command = withoutBeamFlags(withoutResume(prov.Command))
	workerModel := b.workerModel
	if workerModel == "" {
		workerModel = m.Dir
	}
	out, err := filepath.Abs(f.out)
	if err != nil {
		return err
	}
	job := distributed.ProfileJob{ModelDir: workerModel, Plan: plan, BOS: f.bos, Batch: f.batch, Points: pointNames(points),
		Options: opt, Shards: b.shards, Out: out, LMHead: f.lmHead, DLA: f.dla, Settings: set, Provenance: prov}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "running the profile pipeline on %s: %d tokens in %d contexts, %d shards\n", b.runner, plan.Tokens, plan.Contexts, len(plan.Shards(opt.CalibrationPrefix(f.batch), f.batch, b.shards)))
	err = distributed.RunProfile(ctx, job, distributed.Runner{Name: b.runner, Endpoint: b.endpoint, EnvironmentType: b.envType,
		EnvironmentConfig: b.envConfig, Verbose: b.verbose})
	if err != nil {
		return fmt.Errorf("the %s pipeline failed (no outputs were written): %v", b.runner, err)
	}
	neurons := 0
	for _, pt := range points {
		neurons += m.Catalog().Width(pt)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "profiled %d neurons at %d hook points over %d tokens (%d contexts) → %s\n",
		neurons, len(points), plan.Tokens, plan.Contexts, f.out)
	return nil
}
