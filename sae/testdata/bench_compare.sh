#!/bin/sh
# Side-by-side training speed: neuronscope's sae package against the reference algorithms in
# PyTorch (torch_reference.py), on the same activations, widths, batch and thread count.
# Runs alternate (Go, PyTorch, Go, PyTorch, ...) so that load from other processes hits both.
#
#   sae/testdata/bench_compare.sh ACTS.safetensors [ROUNDS]
#
# ACTS is an [n, 512] activation file or trace output with one hook tensor (e.g.
# `neuronscope trace --model testdata/world-llama --jsonl prompts.jsonl
#  --hooks blocks.2.mlp.hook_post --out acts.safetensors`).
# Shape: d_in 512 (from the file), 2048 latents, batch 1024, k 32, 2 threads.
set -eu
acts=$(realpath "$1")
rounds=${2:-3}
here=$(dirname "$(realpath "$0")")
cd "$here/../.."
# OMP_WAIT_POLICY=PASSIVE: on a machine shared with other work PyTorch's spinning OpenMP threads
# lose their cores and run about 3x slower; passive waiting is its best setting there.
export GOMAXPROCS=2 OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE
bin=$(mktemp -d)/sae_bench.test
CGO_ENABLED=1 CGO_LDFLAGS=-lopenblas go test -tags openblas -c -o "$bin" ./sae
for r in $(seq "$rounds"); do
	for arch in topk relu jumprelu; do
		case $arch in
		topk) bench=TrainStepTopK$ ;;
		relu) bench=TrainStepReLU$ ;;
		jumprelu) bench=TrainStepJumpReLU$ ;;
		esac
		SAE_BENCH_ACTS=$acts SAE_BENCH_SHAPE=512,2048,1024,32 "$bin" -test.run XXX \
			-test.bench "$bench" -test.benchtime 20x | grep steps/s | sed "s/^/round $r go  /"
		for variant in $arch $( [ $arch = topk ] && echo topk-dense ); do
			/usr/bin/python3 "$here/torch_reference.py" --acts "$acts" --arch "$variant" --d-sae 2048 --k 32 \
				--batch 1024 --steps 20 --warmup 60 --threads 2 | sed "s/^/round $r torch /"
		done
	done
done
