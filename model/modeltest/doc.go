// Package modeltest holds what tests and benchmarks across neuronscope share: tiny
// random-weight models of every architecture, built in memory, and the GPT-2-small-shaped
// model that full-size benchmarks run on. (The shared fixtures' paths, golden.json structure
// and the tiny configs themselves are in internal/fixtures, which model's own tests use too.)
//
// Tests that need a small model call Tiny; benchmarks take GPT2Small and Tokens.
package modeltest
