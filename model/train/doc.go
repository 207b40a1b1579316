// Package train trains a model from scratch on next-token prediction, with the weight
// gradients of package model: mean cross-entropy over every non-pad next token, AdamW,
// linear warm-up then cosine decay, and global-norm gradient clipping.
//
//	train.Init(m, seed)                          // fresh weights (GPT-2 style init)
//	tr := train.New(m, train.DefaultConfig())    // optimiser state
//	err := tr.Run(seqs, func(s train.Step) { ... })
//	next, err := corpus.Next(m, prompts, 0)           // greedy evaluation: package corpus
//
// # Determinism
//
// Everything is a function of the model's initial weights, the sequences and Config.Seed:
// batches are drawn by a seeded shuffle of the sequences, epoch after epoch, and every
// reduction (loss, gradients, clipping norm) runs in a fixed order. Two runs with the same
// inputs on the same build and machine give bit-identical weights. Different BLAS backends
// (OpenBLAS vs pure Go), or OpenBLAS on a different CPU family, round differently and so
// train to slightly different weights.
//
// # Initialisation
//
// Init follows GPT-2: every matrix and embedding N(0, 0.02²), the matrices that write into
// the residual stream (attention output and MLP down projections) N(0, (0.02/√(2·layers))²),
// biases 0, norm scales 1 (0 for Gemma, whose norms multiply by 1 + w).
//
// # Optimiser
//
// AdamW (Loshchilov & Hutter) with bias correction; weight decay applies to 2-D tensors
// (matrices and embeddings) and not to biases or norm scales. The learning rate rises
// linearly over Warmup steps to LR and then follows a cosine down to MinLR at Steps.
// Gradients are clipped to a global L2 norm of ClipNorm before the update.
package train
