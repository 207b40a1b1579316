package safetensors

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// ---------------------------------------------------------------------------
// helpers

// rawFile builds a file from a literal header (padded with spaces to 8 bytes) and dataLen
// bytes of data 0, 1, 2, ...
func rawFile(header string, dataLen int) []byte {
	for len(header)%8 != 0 {
		header += " "
	}
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	for i := 0; i < dataLen; i++ {
		b = append(b, byte(i))
	}
	return b
}

func writeBytes(t testing.TB, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func encode(t testing.TB, tensors []WriteTensor, meta map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, tensors, meta); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func mustOpen(t testing.TB, path string) *File {
	t.Helper()
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// checkErr asserts that err is a one-line error starting with prefix and containing every want.
func checkErr(t *testing.T, err error, prefix string, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one containing %q", want)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, prefix+":") {
		t.Errorf("error %q does not start with %q", msg, prefix+":")
	}
	if strings.ContainsAny(msg, "\r\n") {
		t.Errorf("error is not one line: %q", msg)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not contain %q", msg, w)
		}
	}
}

func f32Bytes(xs ...float32) []byte {
	b := make([]byte, 4*len(xs))
	for i, x := range xs {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// fixturesDir finds shared/fixtures beside the repository root by walking up from the
// working directory, or skips the test.
func fixturesDir(t *testing.T, name string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		cand := filepath.Join(dir, "shared", "fixtures")
		if fi, err := os.Stat(cand); err == nil && fi.IsDir() {
			p := filepath.Join(cand, name)
			if _, err := os.Stat(p); err != nil {
				t.Skipf("fixture %s not present in %s", name, cand)
			}
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skipf("no shared/fixtures directory above the working directory: skipping fixture %s", name)
		}
		dir = parent
	}
}

// ---------------------------------------------------------------------------
// round trips

func TestRoundTripAllDTypes(t *testing.T) {
	dir := t.TempDir()
	f32 := []float32{0, -0, 1, -2.5, 3.25e-3, 65504, float32(math.Inf(1)), float32(math.Inf(-1)), 1e-8, 3.4e38}
	halfOK := []float32{0, 1, -2.5, 0.099975586, 65504, -65504, 5.9604645e-08, 6.1035156e-05, float32(math.Inf(1))}
	bfOK := []float32{0, 1, -2.5, 3.3895314e38, 9.18355e-41, 0.1015625, float32(math.Inf(-1))}
	f64 := []float64{0, 1.5, -3, 1e300, math.SmallestNonzeroFloat64, 0.1}
	i64 := []int64{0, -1, math.MaxInt64, math.MinInt64, 42, 7}

	raw := func(name string, dt DType, shape []int, n int) WriteTensor {
		b := make([]byte, n*dt.Size())
		for i := range b {
			b[i] = byte(i*7 + len(name))
		}
		return WriteTensor{Name: name, DType: dt, Shape: shape, Data: b}
	}
	f64b := make([]byte, 8*len(f64))
	for i, x := range f64 {
		binary.LittleEndian.PutUint64(f64b[8*i:], math.Float64bits(x))
	}
	tensors := []WriteTensor{
		F32("f32", []int{2, 5}, f32),
		I64("i64", []int{3, 2}, i64),
		{Name: "f64", DType: DTypeF64, Shape: []int{len(f64)}, Data: f64b},
		F16("f16", []int{len(halfOK)}, halfOK),
		BF16("bf16", []int{len(bfOK)}, bfOK),
		raw("u8", DTypeU8, []int{5}, 5),
		raw("i8", DTypeI8, []int{1, 3}, 3),
		raw("bool", DTypeBOOL, []int{4}, 4),
		raw("i16", DTypeI16, []int{3}, 3),
		raw("u16", DTypeU16, []int{2}, 2),
		raw("i32", DTypeI32, []int{3}, 3),
		raw("u32", DTypeU32, []int{1}, 1),
		raw("u64", DTypeU64, []int{2}, 2),
		F32("scalar", nil, []float32{7}),
		F32("empty", []int{0, 3}, nil),
	}
	meta := map[string]string{"format": "pt", "note": "quote\" and\nnewline"}
	path := filepath.Join(dir, "all.safetensors")
	if err := WriteFile(path, tensors, meta); err != nil {
		t.Fatal(err)
	}
	f := mustOpen(t, path)
	var want []string
	for _, w := range tensors {
		want = append(want, w.Name)
	}
	sort.Strings(want)
	if got := f.Names(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Names = %v, want %v", got, want)
	}
	if got := f.Metadata(); !reflect.DeepEqual(got, meta) {
		t.Errorf("Metadata = %v, want %v", got, meta)
	}
	for _, w := range tensors {
		got, ok := f.Tensor(w.Name)
		if !ok {
			t.Fatalf("tensor %s missing", w.Name)
		}
		if got.Name != w.Name || got.File != path || got.DType != w.DType || !slices.Equal(got.Shape, w.Shape) && !(len(got.Shape) == 0 && len(w.Shape) == 0) {
			t.Errorf("%s: got %s %s %v in %s", w.Name, got.Name, got.DType, got.Shape, got.File)
		}
		if !bytes.Equal(got.Data, w.Data) {
			t.Errorf("%s: data differs", w.Name)
		}
		if got.NumElements()*got.DType.Size() != len(got.Data) {
			t.Errorf("%s: NumElements %d inconsistent", w.Name, got.NumElements())
		}
	}
	checkFloats := func(name string, want []float32) {
		t.Helper()
		tt, _ := f.Tensor(name)
		got, err := tt.Float32s()
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d values, want %d", name, len(got), len(want))
		}
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Errorf("%s[%d] = %g, want %g", name, i, got[i], want[i])
			}
		}
	}
	checkFloats("f32", f32)
	checkFloats("f16", halfOK)
	checkFloats("bf16", bfOK)
	f64want := make([]float32, len(f64))
	for i, x := range f64 {
		f64want[i] = float32(x)
	}
	checkFloats("f64", f64want)
	checkFloats("scalar", []float32{7})
	checkFloats("empty", nil)

	for _, name := range []string{"i64", "u8", "bool", "i32"} {
		tt, _ := f.Tensor(name)
		_, err := tt.Float32s()
		checkErr(t, err, path, strconv.Quote(name), string(tt.DType), "float32")
	}
	// Header is padded to 8 bytes with spaces, as HF does.
	b, _ := os.ReadFile(path)
	n := binary.LittleEndian.Uint64(b)
	if n%8 != 0 || !json.Valid(b[8:8+n]) {
		t.Errorf("header length %d not a multiple of 8 or not JSON", n)
	}
}

func TestWriteKeepsOrderAndMatchesHFLayout(t *testing.T) {
	b := encode(t, []WriteTensor{F32("z", []int{1}, []float32{1}), F32("a", []int{2}, []float32{2, 3})}, nil)
	want := `{"z":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`
	for (8+len(want))%64 != 0 { // the data starts 64-byte aligned
		want += " "
	}
	if got := string(b[8 : 8+len(want)]); got != want {
		t.Errorf("header\n got %q\nwant %q", got, want)
	}
	if !bytes.Equal(b[8+len(want):], f32Bytes(1, 2, 3)) {
		t.Errorf("data not contiguous in order")
	}
}

func TestWriteRejectsBadTensors(t *testing.T) {
	for name, tc := range map[string]struct {
		ts   []WriteTensor
		want string
	}{
		"mismatch":  {[]WriteTensor{{Name: "a", DType: DTypeF32, Shape: []int{3}, Data: make([]byte, 8)}}, "needs 12"},
		"negative":  {[]WriteTensor{{Name: "a", DType: DTypeF32, Shape: []int{-1}}}, "negative"},
		"dtype":     {[]WriteTensor{{Name: "a", DType: "F8_E4M3", Shape: []int{1}, Data: []byte{1}}}, "unknown dtype"},
		"duplicate": {[]WriteTensor{F32("a", nil, []float32{1}), F32("a", nil, []float32{1})}, "twice"},
		"noname":    {[]WriteTensor{F32("", nil, []float32{1})}, "invalid tensor name"},
		"metaname":  {[]WriteTensor{F32("__metadata__", nil, []float32{1})}, "invalid tensor name"},
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			err := Write(&buf, tc.ts, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if buf.Len() != 0 {
				t.Errorf("wrote %d bytes before failing", buf.Len())
			}
		})
	}
}

type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n -= len(p); w.n < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestWriteFileLeavesNothingOnError(t *testing.T) {
	dir := t.TempDir()
	good := []WriteTensor{F32("a", []int{2}, []float32{1, 2})}
	listDir := func() []string {
		es, _ := os.ReadDir(dir)
		var out []string
		for _, e := range es {
			out = append(out, e.Name())
		}
		return out
	}

	// Missing directory.
	missing := filepath.Join(dir, "nope", "out.safetensors")
	checkErr(t, WriteFile(missing, good, nil), missing)
	if _, err := os.Stat(filepath.Dir(missing)); !os.IsNotExist(err) {
		t.Errorf("directory was created: %v", err)
	}

	// Invalid tensor: nothing written at all.
	bad := filepath.Join(dir, "bad.safetensors")
	checkErr(t, WriteFile(bad, []WriteTensor{{Name: "x", DType: DTypeF32, Shape: []int{2}, Data: []byte{1}}}, nil), bad, `"x"`)

	// Target is a non-empty directory: the rename fails after the data was written.
	blocked := filepath.Join(dir, "blocked.safetensors")
	writeBytes(t, blocked, "keep", []byte("x"))
	checkErr(t, WriteFile(blocked, good, nil), blocked)
	if got := listDir(); !reflect.DeepEqual(got, []string{"blocked.safetensors"}) {
		t.Errorf("directory holds %v after failed writes, want only the blocking directory", got)
	}

	// Success replaces an existing file and leaves no temp file.
	out := filepath.Join(dir, "out.safetensors")
	writeBytes(t, dir, "out.safetensors", []byte("old junk"))
	if err := WriteFile(out, good, nil); err != nil {
		t.Fatal(err)
	}
	if got := listDir(); !reflect.DeepEqual(got, []string{"blocked.safetensors", "out.safetensors"}) {
		t.Errorf("directory holds %v", got)
	}
	tt, ok := mustOpen(t, out).Tensor("a")
	if !ok || !bytes.Equal(tt.Data, f32Bytes(1, 2)) {
		t.Errorf("rewritten file wrong")
	}

	// Write reports writer errors.
	if err := Write(&failWriter{n: 20}, good, nil); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Write to failing writer: %v", err)
	}
}

// ---------------------------------------------------------------------------
// bad input

func TestBadFiles(t *testing.T) {
	valid := encode(t, []WriteTensor{F32("a", []int{4}, []float32{1, 2, 3, 4}), F32("b", []int{2, 2}, []float32{5, 6, 7, 8})}, nil)
	bigLen := binary.LittleEndian.AppendUint64(nil, 1<<63)
	bigLen = append(bigLen, "{}      "...)
	past := binary.LittleEndian.AppendUint64(nil, 999)
	past = append(past, make([]byte, 112)...)
	entry := func(dtype, shape, offsets string) string {
		return fmt.Sprintf(`{"dtype":%s,"shape":%s,"data_offsets":%s}`, dtype, shape, offsets)
	}
	one := func(dtype, shape, offsets string) string { return `{"t":` + entry(dtype, shape, offsets) + `}` }
	cases := []struct {
		name string
		data []byte
		want []string
	}{
		{"empty", nil, []string{"file is 0 bytes", "shorter than the 8-byte"}},
		{"short", []byte{1, 2, 3, 4, 5}, []string{"file is 5 bytes", "shorter than the 8-byte"}},
		{"header-past-eof", past, []string{"header length 999 exceeds file size 120"}},
		{"header-length-huge", bigLen, []string{"header length 9223372036854775808 exceeds file size 16"}},
		{"truncated", valid[:len(valid)-5], []string{`tensor "b"`, "out of range", "truncated"}},
		{"truncated-header", valid[:20], []string{"exceeds file size 20"}},
		{"not-json", rawFile("hello, world", 0), []string{"header is not JSON"}},
		{"broken-json", rawFile(`{"t":{"dtype":"F32",`, 0), []string{"header is not JSON"}},
		{"not-object", rawFile(`[1, 2]`, 0), []string{"header is not JSON", "'{'"}},
		{"trailing-json", rawFile(`{} {}`, 0), []string{"header is not JSON"}},
		{"bad-utf8", rawFile("{\"t\xff\":{}}", 0), []string{"invalid UTF-8"}},
		{"entry-not-object", rawFile(`{"t":5}`, 0), []string{`tensor "t"`, "not an object"}},
		{"missing-key", rawFile(`{"t":{"dtype":"F32","shape":[1]}}`, 4), []string{`tensor "t"`, `missing "data_offsets"`}},
		{"extra-key", rawFile(`{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}`, 4), []string{`unexpected key "x"`}},
		{"duplicate-name", rawFile(`{"t":`+entry(`"U8"`, `[1]`, `[0,1]`)+`,"t":`+entry(`"U8"`, `[1]`, `[0,1]`)+`}`, 1), []string{`names "t" twice`}},
		{"unknown-dtype", rawFile(one(`"F8_E4M3"`, `[1]`, `[0,1]`), 1), []string{`tensor "t"`, `unknown dtype "F8_E4M3"`}},
		{"dtype-number", rawFile(one(`7`, `[1]`, `[0,1]`), 1), []string{"dtype is a number"}},
		{"negative-shape", rawFile(one(`"F32"`, `[-1, 2]`, `[0,4]`), 4), []string{`tensor "t"`, "shape", "negative"}},
		{"fractional-shape", rawFile(one(`"F32"`, `[1.5]`, `[0,4]`), 4), []string{"shape", "not a non-negative integer"}},
		{"string-shape", rawFile(one(`"F32"`, `["1"]`, `[0,4]`), 4), []string{"shape", "a string, not a number"}},
		{"shape-not-array", rawFile(one(`"F32"`, `4`, `[0,4]`), 4), []string{"shape", "not an array"}},
		{"overflowing-shape", rawFile(one(`"F32"`, `[4294967296, 4294967296, 4]`, `[0,4]`), 4), []string{`tensor "t"`, "overflows"}},
		{"overflowing-bytes", rawFile(one(`"I64"`, `[2305843009213693952]`, `[0,4]`), 4), []string{"overflows"}},
		{"overflow-64-bit-dim", rawFile(one(`"F32"`, `[18446744073709551616]`, `[0,4]`), 4), []string{"overflows 64 bits"}},
		{"huge-dim-zero-elements", rawFile(one(`"F32"`, `[0, 9223372036854775808]`, `[0,0]`), 0), []string{"too large"}},
		{"zero-hides-overflow", rawFile(one(`"F32"`, `[0, 4294967296, 4294967296]`, `[0,0]`), 0), []string{"overflows"}},
		{"shape-bytes-mismatch", rawFile(one(`"F32"`, `[3]`, `[0,8]`), 8), []string{`tensor "t"`, "F32", "[3]", "need 12 bytes", "hold 8"}},
		{"dtype-bytes-mismatch", rawFile(one(`"F64"`, `[2]`, `[0,8]`), 8), []string{"need 16 bytes"}},
		{"offsets-reversed", rawFile(one(`"U8"`, `[0]`, `[4,0]`), 4), []string{"reversed"}},
		{"offsets-three", rawFile(one(`"U8"`, `[1]`, `[0,1,2]`), 1), []string{"data_offsets has 3 elements"}},
		{"offsets-negative", rawFile(one(`"U8"`, `[1]`, `[-1,0]`), 1), []string{"data_offsets", "negative"}},
		{"out-of-range", rawFile(one(`"F32"`, `[100]`, `[0,400]`), 8), []string{"out of range", "data section is 8 bytes"}},
		{"overlap", rawFile(`{"a":`+entry(`"F32"`, `[2]`, `[0,8]`)+`,"b":`+entry(`"F32"`, `[2]`, `[4,12]`)+`}`, 12), []string{`"a"`, `"b"`, "overlap"}},
		{"same-offsets", rawFile(`{"a":`+entry(`"F32"`, `[1]`, `[0,4]`)+`,"b":`+entry(`"F32"`, `[1]`, `[0,4]`)+`}`, 4), []string{"overlap"}},
		{"gap", rawFile(`{"a":`+entry(`"F32"`, `[1]`, `[0,4]`)+`,"b":`+entry(`"F32"`, `[1]`, `[8,12]`)+`}`, 12), []string{"not contiguous", "4 unused bytes at offset 4", `"b"`}},
		{"not-from-zero", rawFile(one(`"F32"`, `[1]`, `[4,8]`), 8), []string{"not contiguous"}},
		{"trailing-data", rawFile(one(`"F32"`, `[1]`, `[0,4]`), 12), []string{"8 unused bytes after the last tensor"}},
		{"metadata-not-string", rawFile(`{"__metadata__":{"format":1}}`, 0), []string{`__metadata__["format"]`, "not a string"}},
		{"metadata-not-object", rawFile(`{"__metadata__":[1]}`, 0), []string{"__metadata__ is an array"}},
	}
	dir := t.TempDir()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := writeBytes(t, dir, tc.name+".safetensors", tc.data)
			f, err := OpenFile(path)
			if err == nil {
				f.Close()
			}
			checkErr(t, err, path, tc.want...)
			_, _, err = ParseHeader(tc.data, "mem:"+tc.name)
			checkErr(t, err, "mem:"+tc.name, tc.want...)
		})
	}
	t.Run("missing-file", func(t *testing.T) {
		p := filepath.Join(dir, "absent.safetensors")
		_, err := OpenFile(p)
		checkErr(t, err, p, "no such file")
	})
	t.Run("directory", func(t *testing.T) {
		_, err := OpenFile(dir)
		checkErr(t, err, dir, "not a regular file")
	})
}

func TestEdgeValidFiles(t *testing.T) {
	for name, data := range map[string][]byte{
		"no-tensors":    rawFile(`{}`, 0),
		"metadata-null": rawFile(`{"__metadata__":null}`, 0),
		"zero-size":     rawFile(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"b":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}`, 2),
		"unsorted":      rawFile(`{"b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]},"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}`, 4),
		"whitespace":    rawFile("{ \n\"a\" : {\"dtype\":\"U8\", \"shape\":[ 1 ],\"data_offsets\":[0 ,1]} }\n", 1),
	} {
		ts, meta, err := ParseHeader(data, name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if meta == nil {
			t.Errorf("%s: nil metadata", name)
		}
		for _, tt := range ts {
			if tt.NumElements()*tt.DType.Size() != len(tt.Data) {
				t.Errorf("%s: %s inconsistent", name, tt.Name)
			}
		}
	}
	ts, _, _ := ParseHeader(rawFile(`{"b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]},"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}`, 4), "x")
	if !bytes.Equal(ts["a"].Data, []byte{0, 1}) || !bytes.Equal(ts["b"].Data, []byte{2, 3}) {
		t.Errorf("unsorted header: a=%v b=%v", ts["a"].Data, ts["b"].Data)
	}
	if cap(ts["a"].Data) != 2 {
		t.Errorf("Data capacity %d extends past the tensor", cap(ts["a"].Data))
	}
}

// ---------------------------------------------------------------------------
// directories

func writeShards(t *testing.T, dir string, shards map[string][]WriteTensor, weightMap map[string]string) {
	t.Helper()
	for name, ts := range shards {
		if err := WriteFile(filepath.Join(dir, name), ts, map[string]string{"format": "pt"}); err != nil {
			t.Fatal(err)
		}
	}
	if weightMap != nil {
		idx, _ := json.Marshal(map[string]any{"metadata": map[string]any{"total_size": 0}, "weight_map": weightMap})
		writeBytes(t, dir, IndexFileName, idx)
	}
}

func TestShardedRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s1 := []WriteTensor{F32("embed", []int{3, 2}, []float32{1, 2, 3, 4, 5, 6}), BF16("layer.0.w", []int{2}, []float32{0.5, -1})}
	s2 := []WriteTensor{F16("layer.1.w", []int{2}, []float32{2, -4}), I64("ids", []int{1}, []int64{9})}
	wm := map[string]string{"embed": "model-00001-of-00002.safetensors", "layer.0.w": "model-00001-of-00002.safetensors",
		"layer.1.w": "model-00002-of-00002.safetensors", "ids": "model-00002-of-00002.safetensors"}
	writeShards(t, dir, map[string][]WriteTensor{"model-00001-of-00002.safetensors": s1, "model-00002-of-00002.safetensors": s2}, wm)
	c, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got, want := c.Names(), []string{"embed", "ids", "layer.0.w", "layer.1.w"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Names = %v, want %v", got, want)
	}
	if got, want := c.Files(), []string{filepath.Join(dir, "model-00001-of-00002.safetensors"), filepath.Join(dir, "model-00002-of-00002.safetensors")}; !reflect.DeepEqual(got, want) {
		t.Errorf("Files = %v, want %v", got, want)
	}
	if got, want := c.DTypes(), map[DType]int64{"F32": 24, "BF16": 4, "F16": 4, "I64": 8}; !reflect.DeepEqual(got, want) {
		t.Errorf("DTypes = %v, want %v", got, want)
	}
	if c.StoredBytes() != 40 {
		t.Errorf("StoredBytes = %d", c.StoredBytes())
	}
	for _, w := range append(s1, s2...) {
		tt, ok := c.Tensor(w.Name)
		if !ok || !bytes.Equal(tt.Data, w.Data) || tt.DType != w.DType || !slices.Equal(tt.Shape, w.Shape) {
			t.Errorf("tensor %s wrong: %+v", w.Name, tt)
		}
		if want := filepath.Join(dir, wm[w.Name]); tt.File != want {
			t.Errorf("tensor %s File = %s, want %s", w.Name, tt.File, want)
		}
	}
	v, _ := c.Tensor("layer.1.w")
	if xs, err := v.Float32s(); err != nil || !slices.Equal(xs, []float32{2, -4}) {
		t.Errorf("layer.1.w = %v, %v", xs, err)
	}
	if _, ok := c.Tensor("nope"); ok {
		t.Error("found a tensor that does not exist")
	}
	if err := c.Close(); err != nil {
		t.Error(err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, ok := c.Tensor("embed"); ok {
		t.Error("tensor found after Close")
	}
}

func TestOpenDirChoice(t *testing.T) {
	one := []WriteTensor{F32("a", []int{1}, []float32{1})}
	two := []WriteTensor{F32("b", []int{1}, []float32{2})}

	dir := t.TempDir() // only another name
	writeShards(t, dir, map[string][]WriteTensor{"weights.safetensors": one}, nil)
	c, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Names(), []string{"a"}) {
		t.Errorf("Names = %v", c.Names())
	}
	c.Close()

	dir = t.TempDir() // model.safetensors wins over an index, as in transformers
	writeShards(t, dir, map[string][]WriteTensor{SingleFileName: one, "shard.safetensors": two}, map[string]string{"b": "shard.safetensors"})
	c, err = OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Names(), []string{"a"}) {
		t.Errorf("Names = %v", c.Names())
	}
	c.Close()
}

func TestBadDirs(t *testing.T) {
	good := func(name string) []WriteTensor { return []WriteTensor{F32(name, []int{1}, []float32{1})} }
	type setup func(t *testing.T, dir string)
	index := func(s string) setup {
		return func(t *testing.T, dir string) { writeBytes(t, dir, IndexFileName, []byte(s)) }
	}
	cases := []struct {
		name   string
		setup  setup
		prefix string // relative to dir; "" means dir itself
		want   []string
	}{
		{"empty-dir", func(*testing.T, string) {}, "", []string{"no model.safetensors"}},
		{"ambiguous", func(t *testing.T, dir string) {
			writeShards(t, dir, map[string][]WriteTensor{"x.safetensors": good("a"), "y.safetensors": good("b")}, nil)
		}, "", []string{"2 *.safetensors files", "x.safetensors, y.safetensors", IndexFileName}},
		{"index-not-json", index(`{"weight_map": {`), IndexFileName, []string{"malformed index"}},
		{"index-trailing", index(`{"weight_map": {"a": "x.safetensors"}} }`), IndexFileName, []string{"malformed index", "trailing"}},
		{"index-no-weight-map", index(`{"metadata": {"total_size": 4}}`), IndexFileName, []string{"malformed index", "no weight_map"}},
		{"index-weight-map-array", index(`{"weight_map": ["a"]}`), IndexFileName, []string{"malformed index"}},
		{"index-value-number", index(`{"weight_map": {"a": 3}}`), IndexFileName, []string{"malformed index", `weight_map["a"] is 3`}},
		{"index-escapes-dir", index(`{"weight_map": {"a": "../x.safetensors"}}`), IndexFileName, []string{"not a file name inside"}},
		{"index-absolute", index(`{"weight_map": {"a": "/etc/passwd"}}`), IndexFileName, []string{"not a file name inside"}},
		{"missing-shard", func(t *testing.T, dir string) {
			writeShards(t, dir, map[string][]WriteTensor{"s1.safetensors": good("a")}, map[string]string{"a": "s1.safetensors", "b": "s2.safetensors"})
		}, IndexFileName, []string{"shard s2.safetensors", `"b"`, "does not exist"}},
		{"tensor-not-in-shard", func(t *testing.T, dir string) {
			writeShards(t, dir, map[string][]WriteTensor{"s1.safetensors": good("a")}, map[string]string{"a": "s1.safetensors", "ghost": "s1.safetensors"})
		}, IndexFileName, []string{`tensor "ghost"`, "s1.safetensors", "does not contain it"}},
		{"tensor-in-other-shard", func(t *testing.T, dir string) {
			writeShards(t, dir, map[string][]WriteTensor{"s1.safetensors": good("a"), "s2.safetensors": good("b")},
				map[string]string{"a": "s2.safetensors", "b": "s1.safetensors"})
		}, IndexFileName, []string{`tensor "a"`, "to s2.safetensors", "it is in s1.safetensors"}},
		{"tensor-in-two-shards", func(t *testing.T, dir string) {
			writeShards(t, dir, map[string][]WriteTensor{"s1.safetensors": good("a"), "s2.safetensors": append(good("a"), good("b")...)},
				map[string]string{"a": "s1.safetensors", "b": "s2.safetensors"})
		}, "s2.safetensors", []string{`tensor "a" is also in`, "s1.safetensors"}},
		{"corrupt-shard", func(t *testing.T, dir string) {
			writeShards(t, dir, map[string][]WriteTensor{"s1.safetensors": good("a")}, map[string]string{"a": "s1.safetensors", "b": "s2.safetensors"})
			writeBytes(t, dir, "s2.safetensors", []byte("garbage!garbage!"))
		}, "s2.safetensors", []string{"exceeds file size"}},
		{"corrupt-single", func(t *testing.T, dir string) {
			writeBytes(t, dir, SingleFileName, []byte{1, 2})
		}, SingleFileName, []string{"shorter than the 8-byte"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.setup(t, dir)
			c, err := OpenDir(dir)
			if err == nil {
				c.Close()
			}
			prefix := dir
			if tc.prefix != "" {
				prefix = filepath.Join(dir, tc.prefix)
			}
			checkErr(t, err, prefix, tc.want...)
		})
	}
	t.Run("missing-dir", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "gone")
		_, err := OpenDir(p)
		checkErr(t, err, p, "no such file")
	})
}

// ---------------------------------------------------------------------------
// zero copy and memory behaviour

func TestF32ZeroCopy(t *testing.T) {
	dir := t.TempDir()
	vals := []float32{1, 2, 3, 4, 5, 6}
	path := filepath.Join(dir, "z.safetensors")
	if err := WriteFile(path, []WriteTensor{F32("w", []int{2, 3}, vals)}, nil); err != nil {
		t.Fatal(err)
	}
	f := mustOpen(t, path)
	tt, _ := f.Tensor("w")
	xs, err := tt.Float32s()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(xs, vals) {
		t.Fatalf("values %v", xs)
	}
	lo := uintptr(unsafe.Pointer(&f.mapping[0]))
	hi := lo + uintptr(len(f.mapping))
	p := uintptr(unsafe.Pointer(&xs[0]))
	if p < lo || p+uintptr(4*len(xs)) > hi {
		t.Errorf("Float32s data at %#x is not inside the mmap [%#x, %#x)", p, lo, hi)
	}
	if p != uintptr(unsafe.Pointer(&tt.Data[0])) {
		t.Errorf("Float32s does not alias Data")
	}
}

func TestMisalignedF32IsCopied(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.safetensors")
	// One F16 element first puts the F32 tensor at data offset 2.
	if err := WriteFile(path, []WriteTensor{F16("h", []int{1}, []float32{1}), F32("w", []int{3}, []float32{1.5, -2, 3})}, nil); err != nil {
		t.Fatal(err)
	}
	f := mustOpen(t, path)
	tt, _ := f.Tensor("w")
	if uintptr(unsafe.Pointer(&tt.Data[0]))%4 == 0 {
		t.Fatal("test setup: data is aligned")
	}
	xs, err := tt.Float32s()
	if err != nil || !slices.Equal(xs, []float32{1.5, -2, 3}) {
		t.Fatalf("Float32s = %v, %v", xs, err)
	}
}

// mappingRss returns the resident size in kB of the mapping containing addr, from
// /proc/self/smaps, or -1 when that is not available.
func mappingRss(addr uintptr) int {
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return -1
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	in := false
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) > 0 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			lo, hi, ok := strings.Cut(fields[0], "-")
			a, err1 := strconv.ParseUint(lo, 16, 64)
			z, err2 := strconv.ParseUint(hi, 16, 64)
			in = ok && err1 == nil && err2 == nil && uint64(addr) >= a && uint64(addr) < z
			continue
		}
		if in && len(fields) >= 2 && fields[0] == "Rss:" {
			n, _ := strconv.Atoi(fields[1])
			return n
		}
	}
	return -1
}

func TestConversionReleasesSourcePages(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("uses /proc/self/smaps")
	}
	const n = 4 << 20 // 8 MiB of BF16
	vals := make([]float32, n)
	for i := range vals {
		vals[i] = float32(i%256) / 8 // exact in BF16
	}
	path := filepath.Join(t.TempDir(), "big.safetensors")
	if err := WriteFile(path, []WriteTensor{BF16("w", []int{n}, vals)}, nil); err != nil {
		t.Fatal(err)
	}
	f := mustOpen(t, path)
	tt, _ := f.Tensor("w")
	addr := uintptr(unsafe.Pointer(&tt.Data[0]))
	sum := touch(tt.Data) // fault every page in
	before := mappingRss(addr)
	if before < 0 {
		t.Skip("/proc/self/smaps has no Rss for the mapping")
	}
	if before < 7*1024 {
		t.Skipf("only %d kB resident after touching 8 MiB (memory pressure?): cannot observe the release", before)
	}
	xs, err := tt.Float32s()
	if err != nil {
		t.Fatal(err)
	}
	after := mappingRss(addr)
	t.Logf("mapping Rss: %d kB before Float32s, %d kB after", before, after)
	if after > 64 {
		t.Errorf("%d kB of the BF16 source still resident after conversion", after)
	}
	for _, i := range []int{0, 1, 12345, n - 1} {
		if xs[i] != vals[i] {
			t.Fatalf("xs[%d] = %g, want %g", i, xs[i], vals[i])
		}
	}
	// The released memory is still valid: it is re-read from the file.
	if got := BF16ToF32(binary.LittleEndian.Uint16(tt.Data[2*12345:])); got != vals[12345] {
		t.Errorf("re-read after release: %g, want %g", got, vals[12345])
	}
	// NonFinite scans in place and releases as well.
	sum += touch(tt.Data)
	if r := mappingRss(addr); r < 7*1024 {
		t.Errorf("only %d kB resident after touching the released range again", r)
	}
	if c, _ := tt.NonFinite(); c != 0 {
		t.Errorf("NonFinite = %d", c)
	}
	if r := mappingRss(addr); r > 64 {
		t.Errorf("NonFinite left %d kB resident", r)
	}
	if sum < 0 {
		t.Log(sum)
	}
}

// touch reads one byte of every 512 so that every page of b is faulted in.
//
//go:noinline
func touch(b []byte) int {
	s := 0
	for i := 0; i < len(b); i += 512 {
		s += int(b[i])
	}
	return s
}

func TestHeapTensorsAreNotReleased(t *testing.T) {
	// A Tensor built in memory (Data on the Go heap) must never be madvised.
	n := 3 * pageSize
	data := make([]byte, 2*n)
	for i := range data {
		data[i] = 0x3f
	}
	tt := Tensor{Name: "heap", DType: DTypeBF16, Shape: []int{n}, Data: data}
	if _, err := tt.Float32s(); err != nil {
		t.Fatal(err)
	}
	tt.NonFinite()
	for i, b := range data {
		if b != 0x3f {
			t.Fatalf("heap byte %d changed to %#x", i, b)
		}
	}
}

func TestNonFinite(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	vals := []float32{1, 2, 3, nan, 4, -inf, 5, inf}
	for _, w := range []WriteTensor{F32("f32", []int{8}, vals), F16("f16", []int{8}, vals), BF16("bf16", []int{8}, vals)} {
		tt := Tensor{Name: w.Name, DType: w.DType, Shape: w.Shape, Data: w.Data}
		if c, first := tt.NonFinite(); c != 3 || first != 3 {
			t.Errorf("%s: NonFinite = %d, %d; want 3, 3", w.Name, c, first)
		}
	}
	fin := F16("ok", []int{3}, []float32{65504, -65504, 0})
	if c, first := (Tensor{DType: fin.DType, Shape: fin.Shape, Data: fin.Data}).NonFinite(); c != 0 || first != -1 {
		t.Errorf("finite F16: %d, %d", c, first)
	}
	i := I64("i", []int{2}, []int64{-1, math.MaxInt64})
	if c, first := (Tensor{DType: i.DType, Shape: i.Shape, Data: i.Data}).NonFinite(); c != 0 || first != -1 {
		t.Errorf("I64: %d, %d", c, first)
	}
	if c, first := CountNonFinite(vals); c != 3 || first != 3 {
		t.Errorf("CountNonFinite = %d, %d", c, first)
	}
}

// ---------------------------------------------------------------------------
// conversions

// refHalf is the exact value of a finite binary16 bit pattern, computed independently.
func refHalf(h uint16) float64 {
	e := int(h>>10) & 0x1f
	m := float64(h & 0x3ff)
	var v float64
	if e == 0 {
		v = math.Ldexp(m, -24)
	} else {
		v = math.Ldexp(1+m/1024, e-15)
	}
	if h&0x8000 != 0 {
		v = -v
	}
	return v
}

func TestF16ToF32Exhaustive(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		f := F16ToF32(h)
		sign := math.Float32bits(f)>>31 == 1
		if sign != (h&0x8000 != 0) {
			t.Fatalf("%#04x: sign lost", h)
		}
		switch {
		case h&0x7c00 == 0x7c00 && h&0x3ff != 0: // NaN
			if !math.IsNaN(float64(f)) {
				t.Fatalf("%#04x: got %g, want NaN", h, f)
			}
			if got := F32ToF16(f); got != h|0x200 {
				t.Fatalf("%#04x: NaN round trip gives %#04x", h, got)
			}
		case h&0x7fff == 0x7c00:
			if !math.IsInf(float64(f), 0) {
				t.Fatalf("%#04x: got %g, want Inf", h, f)
			}
			if F32ToF16(f) != h {
				t.Fatalf("%#04x: Inf round trip", h)
			}
		default:
			if float64(f) != refHalf(h) {
				t.Fatalf("%#04x: got %g, want %g", h, f, refHalf(h))
			}
			if got := F32ToF16(f); got != h {
				t.Fatalf("%#04x: round trip gives %#04x", h, got)
			}
		}
	}
}

func TestBF16ToF32Exhaustive(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		b := uint16(i)
		f := BF16ToF32(b)
		if math.Float32bits(f) != uint32(b)<<16 {
			t.Fatalf("%#04x: bits %#08x", b, math.Float32bits(f))
		}
		want := b
		if math.IsNaN(float64(f)) {
			want |= 0x40
		}
		if got := F32ToBF16(f); got != want {
			t.Fatalf("%#04x: round trip gives %#04x", b, got)
		}
	}
}

// halfValues[i] is the value of the non-negative half with bits i; index 0x7c00 stands for
// 2^16, the next step of the half grid, which rounds to Inf.
var halfValues = func() []float64 {
	v := make([]float64, 0x7c01)
	for i := 0; i < 0x7c00; i++ {
		v[i] = refHalf(uint16(i))
	}
	v[0x7c00] = 65536
	return v
}()

// refF32ToF16 rounds to nearest even by comparing distances on the half grid.
func refF32ToF16(x float32) uint16 {
	sign := uint16(math.Float32bits(x)>>16) & 0x8000
	a := math.Abs(float64(x))
	if math.IsInf(a, 0) || a >= 65536 {
		return sign | 0x7c00
	}
	i := sort.SearchFloat64s(halfValues, a) // first >= a
	if halfValues[i] == a {
		return sign | uint16(i)
	}
	lo, hi := i-1, i
	dlo, dhi := a-halfValues[lo], halfValues[hi]-a
	switch {
	case dlo < dhi:
		return sign | uint16(lo)
	case dhi < dlo:
		return sign | uint16(hi)
	case lo%2 == 0:
		return sign | uint16(lo)
	default:
		return sign | uint16(hi)
	}
}

func refF32ToBF16(x float32) uint16 {
	bits := math.Float32bits(x)
	sign := uint16(bits>>16) & 0x8000
	mag := bits & 0x7fffffff
	if mag == 0x7f800000 {
		return sign | 0x7f80
	}
	t := mag >> 16
	lo := float64(math.Float32frombits(t << 16))
	hi := math.Ldexp(1, 128)
	if t+1 < 0x7f80 {
		hi = float64(math.Float32frombits((t + 1) << 16))
	}
	a := float64(math.Float32frombits(mag))
	dlo, dhi := a-lo, hi-a
	switch {
	case dlo < dhi, dlo == dhi && t%2 == 0:
		return sign | uint16(t)
	default:
		return sign | uint16(t+1)
	}
}

func narrowingCases() []float32 {
	var xs []float32
	add := func(f float64) {
		for _, x := range []float32{float32(f), -float32(f)} {
			xs = append(xs, x, math.Nextafter32(x, float32(math.Inf(1))), math.Nextafter32(x, float32(math.Inf(-1))))
		}
	}
	// Every half value and every midpoint between neighbours (ties), with their neighbours.
	for i := 0; i < 0x7c00; i++ {
		add(halfValues[i])
		add((halfValues[i] + halfValues[i+1]) / 2)
	}
	for _, f := range []float64{65504, 65519, 65520, 65536, 1e5, math.MaxFloat32, math.SmallestNonzeroFloat32,
		1.1754943508222875e-38, math.Ldexp(1, -24), math.Ldexp(1, -25), math.Ldexp(3, -26), math.Ldexp(1, -26),
		3.3895313892515355e38, 3.3961775292304767e38, 1.0 / 3, 0.1, math.Pi} {
		add(f)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 1<<20; i++ {
		xs = append(xs, math.Float32frombits(r.Uint32()))
	}
	return xs
}

func TestNarrowingRoundsToNearestEven(t *testing.T) {
	bad := 0
	for _, x := range narrowingCases() {
		if math.IsNaN(float64(x)) {
			h, b := F32ToF16(x), F32ToBF16(x)
			if h&0x7c00 != 0x7c00 || h&0x3ff == 0 || b&0x7f80 != 0x7f80 || b&0x7f == 0 {
				t.Fatalf("NaN %#08x narrowed to F16 %#04x, BF16 %#04x", math.Float32bits(x), h, b)
			}
			if h>>15 != uint16(math.Float32bits(x)>>31) || b>>15 != uint16(math.Float32bits(x)>>31) {
				t.Fatalf("NaN sign lost")
			}
			continue
		}
		if got, want := F32ToF16(x), refF32ToF16(x); got != want {
			t.Errorf("F32ToF16(%g = %#08x) = %#04x, want %#04x", x, math.Float32bits(x), got, want)
			bad++
		}
		if got, want := F32ToBF16(x), refF32ToBF16(x); got != want {
			t.Errorf("F32ToBF16(%g = %#08x) = %#04x, want %#04x", x, math.Float32bits(x), got, want)
			bad++
		}
		if bad > 10 {
			t.FailNow()
		}
	}
	// A few hand-checked values.
	for _, c := range []struct {
		x    float32
		h, b uint16
	}{
		{1, 0x3c00, 0x3f80},
		{-2, 0xc000, 0xc000},
		{65504, 0x7bff, 0x4780},
		{65520, 0x7c00, 0x4780},         // half: tie between max and 2^16 → even → Inf
		{5.9604645e-08, 0x0001, 0x3380}, // smallest half subnormal, 2^-24
		{2.9802322e-08, 0x0000, 0x3300}, // 2^-25: tie → even → 0
		{4.4703484e-08, 0x0001, 0x3340}, // 1.5·2^-25 → 2^-24
		{6.097555e-05, 0x03ff, 0x3880},  // largest half subnormal
		{1.00390625, 0x3c04, 0x3f80},    // 1+2^-8: bf16 tie → even (1)
		{1.01171875, 0x3c0c, 0x3f82},    // 1+3·2^-8: bf16 tie → even (up)
		{3.4028235e38, 0x7c00, 0x7f80},  // max float32 → Inf in both
		{float32(math.Inf(-1)), 0xfc00, 0xff80},
	} {
		if h := F32ToF16(c.x); h != c.h {
			t.Errorf("F32ToF16(%g) = %#04x, want %#04x", c.x, h, c.h)
		}
		if b := F32ToBF16(c.x); b != c.b {
			t.Errorf("F32ToBF16(%g) = %#04x, want %#04x", c.x, b, c.b)
		}
	}
}

// ---------------------------------------------------------------------------
// real fixtures

func TestFixtureLlamaSharded(t *testing.T) {
	dir := fixturesDir(t, "llama-random-sharded")
	c, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if len(c.Files()) != 2 {
		t.Errorf("Files = %v", c.Files())
	}
	var idx struct {
		Metadata struct {
			TotalSize int64 `json:"total_size"`
		} `json:"metadata"`
		WeightMap map[string]string `json:"weight_map"`
	}
	b, err := os.ReadFile(filepath.Join(dir, IndexFileName))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	if len(c.Names()) != len(idx.WeightMap) {
		t.Errorf("%d tensors, index maps %d", len(c.Names()), len(idx.WeightMap))
	}
	if c.StoredBytes() != idx.Metadata.TotalSize {
		t.Errorf("StoredBytes %d, index total_size %d", c.StoredBytes(), idx.Metadata.TotalSize)
	}
	for name, shard := range idx.WeightMap {
		tt, _ := c.Tensor(name)
		if tt.File != filepath.Join(dir, shard) {
			t.Errorf("%s in %s, index says %s", name, tt.File, shard)
		}
	}
	// config: hidden 48, 6 heads × 8, 2 kv heads, intermediate 112, vocab 512, 3 layers.
	for name, shape := range map[string][]int{
		"model.embed_tokens.weight":              {512, 48},
		"lm_head.weight":                         {512, 48},
		"model.layers.2.self_attn.q_proj.weight": {48, 48},
		"model.layers.0.self_attn.k_proj.weight": {16, 48},
		"model.layers.1.mlp.down_proj.weight":    {48, 112},
		"model.norm.weight":                      {48},
	} {
		tt, ok := c.Tensor(name)
		if !ok || !slices.Equal(tt.Shape, shape) || tt.DType != DTypeF32 {
			t.Errorf("%s: %v %s, want %v F32", name, tt.Shape, tt.DType, shape)
		}
		if _, err := tt.Float32s(); err != nil {
			t.Error(err)
		}
	}
	// Same tensors as the unsharded llama-random fixture, when present.
	single := filepath.Join(filepath.Dir(dir), "llama-random")
	if s, err := OpenDir(single); err == nil {
		defer s.Close()
		if !reflect.DeepEqual(s.Names(), c.Names()) {
			t.Errorf("names differ from llama-random")
		}
		for _, name := range s.Names() {
			a, _ := s.Tensor(name)
			b, _ := c.Tensor(name)
			if !bytes.Equal(a.Data, b.Data) {
				t.Errorf("%s differs from llama-random", name)
			}
		}
	}
}

func TestFixtureLlamaBF16(t *testing.T) {
	dir := fixturesDir(t, "llama-random-bf16")
	c, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if dt := c.DTypes(); len(dt) != 1 || dt[DTypeBF16] != c.StoredBytes() {
		t.Errorf("DTypes = %v", dt)
	}
	f32, err := OpenDir(filepath.Join(filepath.Dir(dir), "llama-random"))
	if err == nil {
		defer f32.Close()
	} else {
		t.Logf("not comparing with the F32 fixture: %v", err)
	}
	for _, name := range c.Names() {
		tt, _ := c.Tensor(name)
		orig := append([]byte(nil), tt.Data...)
		xs, err := tt.Float32s()
		if err != nil {
			t.Fatal(err)
		}
		if len(xs) != tt.NumElements() {
			t.Fatalf("%s: %d values", name, len(xs))
		}
		if n, _ := CountNonFinite(xs); n != 0 {
			t.Errorf("%s: %d non-finite", name, n)
		}
		for i, x := range xs {
			if F32ToBF16(x) != binary.LittleEndian.Uint16(orig[2*i:]) {
				t.Fatalf("%s[%d]: widening not exact", name, i)
			}
		}
		if !bytes.Equal(orig, tt.Data) {
			t.Errorf("%s: data changed by release", name)
		}
		if f32 == nil {
			continue
		}
		// PyTorch's rounding of the F32 fixture agrees with ours.
		src, ok := f32.Tensor(name)
		if !ok {
			t.Fatalf("%s missing from llama-random", name)
		}
		full, _ := src.Float32s()
		for i, x := range full {
			if got, want := F32ToBF16(x), binary.LittleEndian.Uint16(orig[2*i:]); got != want {
				t.Fatalf("%s[%d]: F32ToBF16(%g) = %#04x, PyTorch stored %#04x", name, i, x, got, want)
			}
		}
	}
}

func TestFixtureGPT2(t *testing.T) {
	dir := fixturesDir(t, "gpt2-random")
	c, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for name, shape := range map[string][]int{
		"wte.weight":             {50257, 32},
		"wpe.weight":             {128, 32},
		"h.0.attn.c_attn.weight": {32, 96},
		"h.1.mlp.c_fc.weight":    {32, 128},
		"h.1.attn.bias":          {1, 1, 128, 128},
		"ln_f.bias":              {32},
	} {
		tt, ok := c.Tensor(name)
		if !ok || !slices.Equal(tt.Shape, shape) {
			t.Errorf("%s: %v, want %v", name, tt.Shape, shape)
		}
	}
	if _, ok := c.Tensor("lm_head.weight"); ok {
		t.Error("tied gpt2 has lm_head.weight")
	}
	mask, _ := c.Tensor("h.0.attn.bias")
	m, err := mask.Float32s()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 128; i++ {
		for j := 0; j < 128; j++ {
			want := float32(0)
			if j <= i {
				want = 1
			}
			if m[i*128+j] != want {
				t.Fatalf("attn.bias[%d][%d] = %g", i, j, m[i*128+j])
			}
		}
	}
	wte, _ := c.Tensor("wte.weight")
	xs, _ := wte.Float32s()
	if &xs[0] != (*float32)(unsafe.Pointer(&wte.Data[0])) {
		t.Error("F32 fixture tensor was copied")
	}
}

// ---------------------------------------------------------------------------
// fuzzing

func FuzzParseHeader(f *testing.F) {
	valid := [][]byte{
		encode(f, []WriteTensor{F32("a", []int{2, 3}, []float32{1, 2, 3, 4, 5, 6}), BF16("b", []int{3}, []float32{1, 2, 3}), I64("c", nil, []int64{7})}, map[string]string{"format": "pt"}),
		encode(f, []WriteTensor{F16("x", []int{1, 1, 2}, []float32{1, -1}), F32("empty", []int{0, 4}, nil)}, nil),
		encode(f, nil, nil),
		encode(f, []WriteTensor{{Name: "u", DType: DTypeU8, Shape: []int{3}, Data: []byte{1, 2, 3}}, {Name: "d", DType: DTypeF64, Shape: []int{1}, Data: make([]byte, 8)}}, nil),
	}
	for _, v := range valid {
		f.Add(v)
		for _, cut := range []int{0, 4, 8, 9, 16, len(v) / 2, len(v) - 1} {
			if cut < len(v) {
				f.Add(v[:cut])
			}
		}
	}
	f.Add(rawFile(`{"t":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,4]}}`, 4))
	f.Add(rawFile(`{"t":{"dtype":"F32","shape":[0,18446744073709551615],"data_offsets":[0,0]}}`, 0))
	f.Add(rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, 12))
	f.Add(rawFile(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, 1))
	f.Add(rawFile(`{"__metadata__":{"k":"v"},"t":{"dtype":"BOOL","shape":[],"data_offsets":[0,1]}}`, 1))

	const name = "fuzz.safetensors"
	f.Fuzz(func(t *testing.T, data []byte) {
		ts, meta, err := ParseHeader(data, name)
		if err != nil {
			if msg := err.Error(); !strings.HasPrefix(msg, name+": ") || strings.ContainsAny(msg, "\r\n") {
				t.Fatalf("bad error message %q", msg)
			}
			if strings.Contains(err.Error(), "panicked") || strings.Contains(err.Error(), "internal error") {
				t.Fatalf("library disagreement: %v", err)
			}
			return
		}
		// Valid: the tensors tile the data section and survive a rewrite.
		n := binary.LittleEndian.Uint64(data)
		total := 0
		var out []WriteTensor
		for _, tt := range ts {
			numel := 1
			for _, d := range tt.Shape {
				if d < 0 {
					t.Fatalf("negative dim in %v", tt.Shape)
				}
				numel *= d
			}
			if numel != tt.NumElements() || numel*tt.DType.Size() != len(tt.Data) || tt.File != name {
				t.Fatalf("tensor %q inconsistent: %s %v %d bytes", tt.Name, tt.DType, tt.Shape, len(tt.Data))
			}
			total += len(tt.Data)
			if tt.DType.IsFloat() {
				if _, err := tt.Float32s(); err != nil {
					t.Fatal(err)
				}
				tt.NonFinite()
			}
			out = append(out, WriteTensor{Name: tt.Name, DType: tt.DType, Shape: tt.Shape, Data: tt.Data})
		}
		if uint64(total) != uint64(len(data))-8-n {
			t.Fatalf("tensors hold %d bytes of a %d-byte data section", total, uint64(len(data))-8-n)
		}
		var buf bytes.Buffer
		if err := Write(&buf, out, meta); err != nil {
			t.Fatalf("rewrite: %v", err)
		}
		ts2, meta2, err := ParseHeader(buf.Bytes(), name)
		if err != nil {
			t.Fatalf("reparse: %v", err)
		}
		if len(ts2) != len(ts) || len(meta2) != len(meta) {
			t.Fatalf("rewrite changed the contents")
		}
		for k, a := range ts {
			b := ts2[k]
			if a.DType != b.DType || !slices.Equal(a.Shape, b.Shape) || !bytes.Equal(a.Data, b.Data) {
				t.Fatalf("rewrite changed tensor %q", k)
			}
		}
	})
}
