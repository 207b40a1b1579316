// Package tensor is neuronscope's one concrete tensor type: a shape and a row-major []float32.
//
// Shapes are written in one vocabulary throughout neuronscope, in PyTorch/TransformerLens order:
// [batch, pos, d_model], [batch, pos, d_mlp], [batch, pos, n_heads, d_head], [batch, pos, d_vocab].
// A Tensor may alias memory owned by someone else (a model's activation buffer, an mmap'd file);
// Clone makes an owned copy.
package tensor
