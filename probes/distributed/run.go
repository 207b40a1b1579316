package distributed

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"sync"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/jobopts"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/direct"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/universal"
)

func reflectTypeOf[T any]() reflect.Type { return reflect.TypeOf((*T)(nil)).Elem() }

// Runner says where a pipeline runs.
type Runner struct {
	// Name is prism (the embedded local runner; with Endpoint, a Prism job server), direct (the
	// Go SDK's in-process direct runner) or universal (a portable job server: Flink, Spark, a
	// Prism server; Endpoint required).
	Name string
	// Endpoint is the job server's HOST:PORT.
	Endpoint string
	// EnvironmentType is how the runner starts workers: LOOPBACK (workers inside this process;
	// the default for prism), DOCKER (the container image EnvironmentConfig), PROCESS or
	// EXTERNAL, as the Beam portability framework defines them.
	EnvironmentType, EnvironmentConfig string
	// Verbose keeps the Beam SDK's and Prism's logs (default: none; a failed job's error is returned).
	Verbose bool
}

// Runners are the Name values Run accepts.
var Runners = []string{"prism", "direct", "universal"}

// jobMu serialises pipeline runs: the Beam Go SDK's runner options are process globals.
var jobMu sync.Mutex

// Run executes a pipeline on the runner and waits for it. An error of a worker (a DoFn's
// error, e.g. a model a worker cannot load) comes back as the job's error.
func Run(ctx context.Context, p *beam.Pipeline, r Runner) error {
	jobMu.Lock()
	defer jobMu.Unlock()
	beam.Init()
	saved := [3]string{*jobopts.Endpoint, *jobopts.EnvironmentType, *jobopts.EnvironmentConfig}
	defer func() {
		*jobopts.Endpoint, *jobopts.EnvironmentType, *jobopts.EnvironmentConfig = saved[0], saved[1], saved[2]
	}()
	*jobopts.Endpoint, *jobopts.EnvironmentType, *jobopts.EnvironmentConfig = r.Endpoint, strings.ToLower(r.EnvironmentType), r.EnvironmentConfig
	if !r.Verbose {
		prev := slog.Default()
		slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError + 4})))
		defer slog.SetDefault(prev)
	}
	var err error
	switch r.Name {
	case "prism":
		if r.Endpoint == "" && r.EnvironmentType == "" {
			*jobopts.EnvironmentType = "loopback"
		}
		_, err = prism.Execute(ctx, p)
	case "direct":
		_, err = direct.Execute(ctx, p)
	case "universal":
		if r.Endpoint == "" {
			return fmt.Errorf("the universal runner needs the job server's HOST:PORT (endpoint)")
		}
		if *jobopts.EnvironmentType == "" {
			*jobopts.EnvironmentType = "loopback"
		}
		_, err = universal.Execute(ctx, p)
	default:
		return fmt.Errorf("runner %q: want one of %s", r.Name, strings.Join(Runners, ", "))
	}
	return err
}

// RunIfWorker turns this process into a Beam worker (SDK harness) when a portable runner
// started it as one (its arguments include --worker): it parses the harness flags, serves the
// runner until the job ends and exits. Otherwise it returns at once. Call it first thing in
// main, so that the binary that launches a pipeline can be staged as its worker binary.
func RunIfWorker() {
	for _, a := range os.Args[1:] {
		if a == "--worker" || a == "--worker=true" || a == "-worker" || a == "-worker=true" {
			flag.Parse()
			beam.Init() // runs the harness and exits in worker mode
			return
		}
	}
}
