package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	st "github.com/nlpodyssey/safetensors"
)

// MaxHeaderBytes is the largest JSON header accepted (the limit of the Rust reference
// implementation and of github.com/nlpodyssey/safetensors).
const MaxHeaderBytes = 100_000_000

const metadataKey = "__metadata__"

// headerEntry is one tensor of the header as pre-validated by this package.
type headerEntry struct {
	name       string
	dtype      DType
	shape      []int
	begin, end uint64 // data_offsets, relative to the data section
}

// ParseHeader parses and validates a complete safetensors file held in data (8-byte
// little-endian header length, JSON header, data section). It does no I/O; name is used in
// error messages and as Tensor.File. The returned tensors' Data alias data.
//
// Every error is one line starting with name. Validation happens in two layers:
//
//  1. This package's own checks, which give precise messages naming the tensor: framing
//     (file shorter than 8 bytes, header length past the end of the file or above
//     MaxHeaderBytes), the header is a UTF-8 JSON object with no trailing bytes and no
//     duplicate names, each entry has exactly dtype/shape/data_offsets, known dtype,
//     non-negative integer dims whose product fits in an int, byte length =
//     elements × dtype size, offsets inside the data section, and the tensors tile the data
//     section exactly (no overlap, no gap, no trailing bytes).
//  2. github.com/nlpodyssey/safetensors, which parses the header again and builds the
//     tensor views. Its call is wrapped in a recover that turns a panic into an error; that
//     is a last line of defence only: fuzzing the library on its own (millions of inputs,
//     including huge and overflowing shapes) found no panic. It does, however, accept
//     inputs that layer 1 rejects: duplicate tensor names (the last one silently wins),
//     invalid UTF-8, a header of `null` or with leading whitespace, dims above math.MaxInt
//     (which would turn negative as int) and overflowing dims hidden behind a zero dim.
func ParseHeader(data []byte, name string) (map[string]Tensor, map[string]string, error) {
	entries, meta, err := preValidate(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %s", name, oneLine(err.Error()))
	}
	views, err := deserialize(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: invalid safetensors file: %s", name, oneLine(err.Error()))
	}
	if len(views) != len(entries) {
		return nil, nil, fmt.Errorf("%s: internal error: header has %d tensors but the safetensors library found %d", name, len(entries), len(views))
	}
	tensors := make(map[string]Tensor, len(views))
	for _, v := range views {
		e, ok := entries[v.Name]
		tv := v.TensorView
		if !ok || string(e.dtype) != tv.DType().String() || uint64(len(tv.Data())) != e.end-e.begin {
			return nil, nil, fmt.Errorf("%s: internal error: the safetensors library disagrees about tensor %q", name, v.Name)
		}
		d := tv.Data()
		tensors[v.Name] = Tensor{
			Name:  v.Name,
			File:  name,
			DType: e.dtype,
			Shape: e.shape,
			Data:  d[:len(d):len(d)],
		}
	}
	if meta == nil {
		meta = map[string]string{}
	}
	return tensors, meta, nil
}

// deserialize calls the library. The recover is a last line of defence: preValidate
// rejects everything known to reach a panic, but a library bug must not crash a program
// that is loading a user-supplied file.
func deserialize(data []byte) (views []st.NamedTensorView, err error) {
	defer func() {
		if r := recover(); r != nil {
			views, err = nil, fmt.Errorf("safetensors library panicked (please report this file): %v", r)
		}
	}()
	s, err := st.Deserialize(data)
	if err != nil {
		return nil, err
	}
	return s.Tensors(), nil
}

func preValidate(data []byte) (map[string]headerEntry, map[string]string, error) {
	if len(data) < 8 {
		return nil, nil, fmt.Errorf("file is %d bytes, shorter than the 8-byte header length prefix (truncated or not a safetensors file)", len(data))
	}
	n := binary.LittleEndian.Uint64(data[:8])
	if n > uint64(len(data)-8) {
		return nil, nil, fmt.Errorf("header length %d exceeds file size %d (truncated or not a safetensors file)", n, len(data))
	}
	if n > MaxHeaderBytes {
		return nil, nil, fmt.Errorf("header length %d exceeds the limit of %d bytes", n, MaxHeaderBytes)
	}
	hdr := data[8 : 8+n]
	dataLen := uint64(len(data)) - 8 - n
	if len(hdr) == 0 || hdr[0] != '{' {
		return nil, nil, errors.New("header is not JSON: it does not start with '{' (not a safetensors file?)")
	}
	if !utf8.Valid(hdr) {
		return nil, nil, errors.New("header is not JSON: invalid UTF-8")
	}
	entries, meta, err := decodeHeader(hdr)
	if err != nil {
		return nil, nil, err
	}
	byName := make(map[string]headerEntry, len(entries))
	for i := range entries {
		e := &entries[i]
		if e.begin > e.end {
			return nil, nil, fmt.Errorf("tensor %q: data_offsets [%d, %d] are reversed", e.name, e.begin, e.end)
		}
		if e.end > dataLen {
			return nil, nil, fmt.Errorf("tensor %q: data_offsets [%d, %d] are out of range: the data section is %d bytes (truncated file?)", e.name, e.begin, e.end, dataLen)
		}
		// Elements, and the product of the non-zero dims (so that a zero dim cannot hide
		// dims whose strides would overflow an int).
		numel, nonZero := 1, 1
		for _, d := range e.shape {
			numel = mulInt(numel, d)
			nonZero = mulInt(nonZero, max(d, 1))
		}
		nbytes := mulInt(numel, e.dtype.Size())
		if nbytes < 0 || mulInt(nonZero, e.dtype.Size()) < 0 {
			return nil, nil, fmt.Errorf("tensor %q: shape %v of dtype %s overflows", e.name, e.shape, e.dtype)
		}
		if uint64(nbytes) != e.end-e.begin {
			return nil, nil, fmt.Errorf("tensor %q: dtype %s and shape %v need %d bytes but data_offsets [%d, %d] hold %d", e.name, e.dtype, e.shape, nbytes, e.begin, e.end, e.end-e.begin)
		}
		byName[e.name] = *e
	}
	sorted := append([]headerEntry(nil), entries...)
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		return a.begin < b.begin || (a.begin == b.begin && a.end < b.end)
	})
	var pos uint64
	for i, e := range sorted {
		switch {
		case e.begin < pos:
			p := sorted[i-1]
			return nil, nil, fmt.Errorf("tensors %q data_offsets [%d, %d] and %q data_offsets [%d, %d] overlap", p.name, p.begin, p.end, e.name, e.begin, e.end)
		case e.begin > pos:
			return nil, nil, fmt.Errorf("data is not contiguous: %d unused bytes at offset %d before tensor %q data_offsets [%d, %d]", e.begin-pos, pos, e.name, e.begin, e.end)
		}
		pos = e.end
	}
	if pos != dataLen {
		return nil, nil, fmt.Errorf("data is not contiguous: %d unused bytes after the last tensor (data section is %d bytes, tensors end at %d)", dataLen-pos, dataLen, pos)
	}
	return byName, meta, nil
}

// decodeHeader reads the header object token by token, so that duplicate names and
// trailing bytes are caught (encoding/json would silently keep the last duplicate).
func decodeHeader(hdr []byte) ([]headerEntry, map[string]string, error) {
	bad := func(err error) error { return fmt.Errorf("header is not JSON: %v", err) }
	dec := json.NewDecoder(bytes.NewReader(hdr))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil {
		return nil, nil, bad(err)
	} else if tok != json.Delim('{') {
		return nil, nil, errors.New("header is not a JSON object")
	}
	var entries []headerEntry
	var meta map[string]string
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, bad(err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, nil, bad(fmt.Errorf("unexpected %v", tok))
		}
		if seen[key] {
			return nil, nil, fmt.Errorf("header names %q twice", key)
		}
		seen[key] = true
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, nil, bad(err)
		}
		if key == metadataKey {
			if meta, err = decodeMetadata(v); err != nil {
				return nil, nil, err
			}
			continue
		}
		e, err := decodeEntry(key, v)
		if err != nil {
			return nil, nil, err
		}
		entries = append(entries, e)
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, nil, bad(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			err = errors.New("trailing data after the header object")
		}
		return nil, nil, bad(err)
	}
	return entries, meta, nil
}

func decodeMetadata(v any) (map[string]string, error) {
	if v == nil {
		return nil, nil
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s is %s, not an object of strings", metadataKey, jsonKind(v))
	}
	meta := make(map[string]string, len(obj))
	for k, x := range obj {
		s, ok := x.(string)
		if !ok {
			return nil, fmt.Errorf("%s[%q] is %s, not a string", metadataKey, k, jsonKind(x))
		}
		meta[k] = s
	}
	return meta, nil
}

func decodeEntry(name string, v any) (headerEntry, error) {
	e := headerEntry{name: name}
	obj, ok := v.(map[string]any)
	if !ok {
		return e, fmt.Errorf("tensor %q: header entry is %s, not an object", name, jsonKind(v))
	}
	for k := range obj {
		if k != "dtype" && k != "shape" && k != "data_offsets" {
			return e, fmt.Errorf("tensor %q: unexpected key %q (want dtype, shape, data_offsets)", name, k)
		}
	}
	for _, k := range []string{"dtype", "shape", "data_offsets"} {
		if _, ok := obj[k]; !ok {
			return e, fmt.Errorf("tensor %q: missing %q", name, k)
		}
	}
	ds, ok := obj["dtype"].(string)
	if !ok {
		return e, fmt.Errorf("tensor %q: dtype is %s, not a string", name, jsonKind(obj["dtype"]))
	}
	e.dtype = DType(ds)
	if !e.dtype.Known() {
		return e, fmt.Errorf("tensor %q: unknown dtype %q (known: %s)", name, ds, strings.Join(knownDTypes(), ", "))
	}
	dims, err := naturals(obj["shape"])
	if err != nil {
		return e, fmt.Errorf("tensor %q: shape: %v", name, err)
	}
	e.shape = make([]int, len(dims))
	for i, d := range dims {
		if d > math.MaxInt {
			return e, fmt.Errorf("tensor %q: shape: dimension %d is too large", name, d)
		}
		e.shape[i] = int(d)
	}
	off, err := naturals(obj["data_offsets"])
	if err != nil {
		return e, fmt.Errorf("tensor %q: data_offsets: %v", name, err)
	}
	if len(off) != 2 {
		return e, fmt.Errorf("tensor %q: data_offsets has %d elements, want 2", name, len(off))
	}
	e.begin, e.end = off[0], off[1]
	return e, nil
}

// naturals decodes a JSON array of non-negative integers (numbers, not strings).
func naturals(v any) ([]uint64, error) {
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s, not an array", jsonKind(v))
	}
	out := make([]uint64, len(arr))
	for i, x := range arr {
		num, ok := x.(json.Number)
		if !ok {
			return nil, fmt.Errorf("element %d is %s, not a number", i, jsonKind(x))
		}
		s := num.String()
		u, err := strconv.ParseUint(s, 10, 64)
		switch {
		case err == nil:
			out[i] = u
		case strings.HasPrefix(s, "-"):
			return nil, fmt.Errorf("element %d is negative (%s)", i, s)
		case errors.Is(err, strconv.ErrRange):
			return nil, fmt.Errorf("element %d (%s) overflows 64 bits", i, s)
		default:
			return nil, fmt.Errorf("element %d (%s) is not a non-negative integer", i, s)
		}
	}
	return out, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// mulInt multiplies non-negative ints, returning -1 on overflow (and propagating -1).
func mulInt(a, b int) int {
	if a < 0 || b < 0 {
		return -1
	}
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi != 0 || lo > math.MaxInt {
		return -1
	}
	return int(lo)
}

// oneLine keeps error messages on one line whatever a library or a crafted name puts in them.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
}
