// Package sae will load and run sparse autoencoders (TopK, JumpReLU, standard) on neuronscope
// hook points.
//
// Status: not implemented yet; nothing in this package is exported.
package sae
