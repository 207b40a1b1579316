// Package decompose will hold matrix decompositions of MLP activations (semi-NMF over
// blocks.L.mlp.hook_post, following Shafran, Geiger & Geva 2025; see shared docs/algorithms.md).
//
// Status: not implemented yet; nothing in this package is exported. It exists so the
// repository layout is fixed from the start.
package decompose
