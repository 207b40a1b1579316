// Package ablate will hold ablation, clamping and patching experiments that verify neuron
// labels, built on hooks.Edit.
//
// Status: not implemented yet; nothing in this package is exported. Today, ablations are
// written directly as hooks.Edit functions (see the README).
package ablate
