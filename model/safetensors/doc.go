// Package safetensors reads and writes safetensors files, the weight format of Hugging
// Face checkpoints, and opens checkpoint directories (single-file or sharded).
//
// # Format
//
// A safetensors file is an 8-byte little-endian header length N, N bytes of JSON header
// ({"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
// "__metadata__": {"key": "value"}}) and a data section in which every tensor occupies
// [begin, end) in C order, little-endian, with the tensors tiling the section exactly.
//
// # Reading: mmap and zero copy
//
// OpenFile maps the whole file with mmap(PROT_READ, MAP_SHARED) and validates the header
// (ParseHeader, which uses github.com/nlpodyssey/safetensors). Nothing is copied: each
// Tensor's Data is a slice of the mapping. Consequences:
//
//   - Data is read-only memory. Writing to it kills the process with SIGSEGV, which
//     recover cannot catch. Copy before modifying.
//   - Data (and anything aliasing it) is valid only until File.Close or Checkpoint.Close;
//     touching it afterwards also crashes. Close only when done with every view.
//   - The file must not be truncated or rewritten in place while it is open: the kernel
//     delivers SIGBUS for pages past a truncated end. (WriteFile replaces files by rename,
//     which is safe: an open mapping keeps the old contents.)
//   - The kernel pages data in on first touch and can drop clean pages under memory
//     pressure, so opening a multi-gigabyte checkpoint costs almost nothing until tensors
//     are read.
//
// Tensor.Float32s of an F32 tensor whose data is 4-byte aligned (the usual case: the
// header is padded to 8 bytes and F32 offsets are multiples of 4) returns a []float32 view
// of the mapping made with unsafe.Slice: no copy at all, the same read-only and
// valid-until-Close rules apply.
//
// # Memory behaviour for BF16, F16 and F64
//
// Those dtypes (and misaligned F32) are converted into a new []float32. Afterwards the
// pages lying wholly inside the tensor's byte range are released with
// madvise(MADV_DONTNEED): the source bytes stop counting towards the process's resident
// memory, so converting a BF16 model holds one float32 copy of the weights plus at most a
// page or two of BF16 per tensor, never the BF16 pages and float32 copies side by side.
// The released range stays mapped and readable (the kernel re-reads it from the file if
// touched again), so this is purely a memory optimisation. Tensor.NonFinite scans F16/BF16
// data in place and releases it the same way. Tensors built in memory (Data on the Go
// heap) are never madvised.
//
// # Checkpoints
//
// OpenDir picks a directory's weights as transformers does: model.safetensors, else the
// shards of model.safetensors.index.json (weight_map: tensor name → file), else the only
// *.safetensors file. All tensors of all files are reachable by name; a name found in two
// files, a shard the index names but which does not exist, and a tensor the index maps to a
// shard that lacks it are errors.
//
// # Writing
//
// Write produces files the Hugging Face libraries read: tensors in the given order and
// contiguous, header padded with spaces to a multiple of 8 bytes, __metadata__ only when
// there is metadata. WriteFile is atomic: it writes a temporary file beside the target,
// fsyncs it and renames it into place, and removes it on any error. F32, I64, BF16 and F16
// build WriteTensors from Go slices (BF16 and F16 round to nearest even).
//
// # Error policy
//
// Bad input never panics. Every error is a single line that starts with the path of the
// offending file (for ParseHeader, the name it is given) and says what is wrong: file
// shorter than 8 bytes, header length past the end of the file, header not JSON (or not
// an object, or with trailing bytes or duplicate names), unknown dtype, negative,
// non-integer or overflowing shape, dtype and shape that disagree with the byte length,
// data offsets that are reversed, out of range (truncated file), overlapping or leave a
// gap, a malformed index.json, a missing shard, a tensor missing from its shard, a tensor
// in two shards. This package checks all of that itself before handing the file to
// github.com/nlpodyssey/safetensors, whose call is additionally wrapped in a recover that
// turns a panic into an error — a last line of defence, not a code path any known input
// reaches.
//
// Dtypes are those of github.com/nlpodyssey/safetensors (BOOL, U8, I8, I16, U16, F16,
// BF16, I32, U32, F32, F64, I64, U64); a file containing any other dtype (such as the
// float8 types) is rejected as a whole with an "unknown dtype" error.
package safetensors
