// Package modeltest holds what tests and benchmarks across neuronscope share: tiny configs of
// every architecture (random-weight models built in memory), the structure of the shared
// fixtures' golden.json, and the GPT-2-small-shaped model that full-size benchmarks run on.
//
// Tests that need a small model call Tiny; reference tests read the fixtures with
// fixtures.Checkpoints and ReadGolden; benchmarks take GPT2Small and Tokens.
package modeltest
