// Package notebooks holds runnable research programs, one per directory
// (notebooks/NN-name/main.go, each with a README showing its output), in the style of
// notebooks: each is a short, commented walk through one question with the toolkit's public
// API. The test suite compiles and runs each briefly (-budget tiny).
package notebooks
