package safetensors

import (
	"fmt"
	"io"
	"os"
	"sort"
	"sync"

	"golang.org/x/sys/unix"
)

// File is one safetensors file, mmap'd read-only. Its tensors' Data alias the mapping and
// are valid until Close.
type File struct {
	path    string
	mu      sync.Mutex
	mapping []byte // exactly as returned by unix.Mmap (nil once closed)
	tensors map[string]Tensor
	names   []string
	meta    map[string]string
}

// OpenFile mmaps and validates a safetensors file. Errors are one line and start with path.
func OpenFile(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, unwrapPathError(err))
	}
	defer f.Close() // the mapping outlives the descriptor
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, unwrapPathError(err))
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	size := fi.Size()
	if size < 8 {
		// Too small to map usefully; let ParseHeader word the error.
		b, err := io.ReadAll(io.LimitReader(f, 8))
		if err != nil {
			return nil, fmt.Errorf("%s: %v", path, unwrapPathError(err))
		}
		_, _, err = ParseHeader(b, path)
		return nil, err
	}
	if int64(int(size)) != size {
		return nil, fmt.Errorf("%s: file of %d bytes is too large to map", path, size)
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("%s: mmap: %v", path, err)
	}
	tensors, meta, err := ParseHeader(m, path)
	if err != nil {
		_ = unix.Munmap(m)
		return nil, err
	}
	names := make([]string, 0, len(tensors))
	for name, t := range tensors {
		t.mapped = true
		tensors[name] = t
		names = append(names, name)
	}
	sort.Strings(names)
	return &File{path: path, mapping: m, tensors: tensors, names: names, meta: meta}, nil
}

// Path is the path the file was opened with.
func (f *File) Path() string { return f.path }

// Tensor looks a tensor up by name. After Close it finds nothing.
func (f *File) Tensor(name string) (Tensor, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.tensors[name]
	return t, ok
}

// Names lists the tensor names, sorted.
func (f *File) Names() []string { return append([]string(nil), f.names...) }

// Metadata is the header's __metadata__ map (empty, never nil, when absent).
func (f *File) Metadata() map[string]string {
	out := make(map[string]string, len(f.meta))
	for k, v := range f.meta {
		out[k] = v
	}
	return out
}

// Size is the file size in bytes.
func (f *File) Size() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return int64(len(f.mapping))
}

// Close unmaps the file. Every Tensor.Data from it, and every zero-copy slice returned by
// Float32s, becomes invalid: touching one afterwards crashes the process. Closing twice is
// a no-op.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.mapping == nil {
		return nil
	}
	m := f.mapping
	f.mapping, f.tensors = nil, nil
	if err := unix.Munmap(m); err != nil {
		return fmt.Errorf("%s: munmap: %v", f.path, err)
	}
	return nil
}

// unwrapPathError drops the *os.PathError wrapper, whose text repeats the path.
func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}
