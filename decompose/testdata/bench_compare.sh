#!/bin/sh
# Side-by-side speed comparison of one SNMF iteration (d_mlp 3072, n 8192, rank 100, same
# matrix, same G0): the Go benchmark (OpenBLAS build) and the published loop in PyTorch, on the
# same number of threads, alternating ROUNDS times so that both sides see the same machine load.
# Run from the repository root:  sh decompose/testdata/bench_compare.sh [THREADS] [ROUNDS]
set -e
THREADS=${1:-2}
ROUNDS=${2:-3}
CGO_ENABLED=1 CGO_LDFLAGS=-lopenblas go test -tags openblas -c -o /tmp/decompose-bench.test ./decompose/
for r in $(seq "$ROUNDS"); do
	echo "== round $r: go (GOMAXPROCS $THREADS, OpenBLAS single-threaded per goroutine)"
	/tmp/decompose-bench.test -test.run '^$' -test.bench SNMFIteration -test.benchtime 20x -test.cpu "$THREADS" | grep -E 'ms/iter|checksum'
	echo "== round $r: torch (torch.set_num_threads($THREADS))"
	OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS /usr/bin/python3 decompose/testdata/bench_snmf_torch.py --threads "$THREADS" --iters 20 | grep -E 'ms/iteration|checksum'
done
