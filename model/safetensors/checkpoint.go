package safetensors

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Standard Hugging Face weight file names.
const (
	SingleFileName = "model.safetensors"
	IndexFileName  = "model.safetensors.index.json"
)

// Checkpoint is the weights of a model directory, one or more mmap'd safetensors files.
type Checkpoint struct {
	dir     string
	files   []*File
	tensors map[string]Tensor
	names   []string
}

// OpenDir opens the weights of a Hugging Face model directory, choosing as transformers
// does: model.safetensors if present; else the shards listed by
// model.safetensors.index.json (its weight_map, tensor name → file); else the directory's
// only *.safetensors file. Errors are one line and name the offending file.
//
// Sharded checkpoints are checked: every shard the index names must exist and hold the
// tensors mapped to it, and no tensor name may appear in two files. Tensors a shard holds
// beyond the weight_map are included (transformers loads whole shards too).
func OpenDir(dir string) (*Checkpoint, error) {
	single := filepath.Join(dir, SingleFileName)
	if isFile(single) {
		return openFiles(dir, []string{single}, nil)
	}
	index := filepath.Join(dir, IndexFileName)
	if _, err := os.Stat(index); err == nil {
		return openIndex(dir, index)
	}
	matches, err := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", dir, err)
	}
	var files []string
	for _, m := range matches {
		if isFile(m) {
			files = append(files, m)
		}
	}
	switch len(files) {
	case 1:
		return openFiles(dir, files, nil)
	case 0:
		if fi, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("%s: %v", dir, unwrapPathError(err))
		} else if !fi.IsDir() {
			return nil, fmt.Errorf("%s: not a directory", dir)
		}
		return nil, fmt.Errorf("%s: no %s, %s or other *.safetensors file", dir, SingleFileName, IndexFileName)
	default:
		bases := make([]string, len(files))
		for i, f := range files {
			bases[i] = filepath.Base(f)
		}
		return nil, fmt.Errorf("%s: %d *.safetensors files (%s) but no %s to say how they fit together", dir, len(files), strings.Join(bases, ", "), IndexFileName)
	}
}

func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// openIndex reads a sharded checkpoint's index.json.
func openIndex(dir, index string) (*Checkpoint, error) {
	raw, err := os.ReadFile(index)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", index, unwrapPathError(err))
	}
	var doc struct {
		WeightMap map[string]json.RawMessage `json:"weight_map"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s: malformed index: %v", index, err)
	}
	if rest := bytes.TrimSpace(raw[dec.InputOffset():]); len(rest) > 0 {
		return nil, fmt.Errorf("%s: malformed index: trailing data after the JSON object", index)
	}
	if len(doc.WeightMap) == 0 {
		return nil, fmt.Errorf("%s: malformed index: no weight_map (or it is empty)", index)
	}
	want := make(map[string]string, len(doc.WeightMap)) // tensor → shard path
	shardSet := map[string]bool{}
	for name, v := range doc.WeightMap {
		var shard string
		if err := json.Unmarshal(v, &shard); err != nil {
			return nil, fmt.Errorf("%s: malformed index: weight_map[%q] is %s, not a file name", index, name, oneLine(string(v)))
		}
		if shard == "" || filepath.IsAbs(shard) || shard != filepath.Clean(shard) || strings.HasPrefix(shard, "..") {
			return nil, fmt.Errorf("%s: malformed index: weight_map[%q] = %q is not a file name inside the checkpoint directory", index, name, shard)
		}
		p := filepath.Join(dir, shard)
		want[name] = p
		shardSet[p] = true
	}
	shards := make([]string, 0, len(shardSet))
	for p := range shardSet {
		shards = append(shards, p)
	}
	sort.Strings(shards)
	for _, p := range shards {
		if !isFile(p) {
			example := ""
			for name, q := range want {
				if q == p && (example == "" || name < example) {
					example = name
				}
			}
			return nil, fmt.Errorf("%s: shard %s (holding %q, ...) does not exist", index, filepath.Base(p), example)
		}
	}
	return openFiles(dir, shards, &indexCheck{path: index, want: want})
}

type indexCheck struct {
	path string
	want map[string]string
}

func openFiles(dir string, paths []string, idx *indexCheck) (_ *Checkpoint, err error) {
	c := &Checkpoint{dir: dir, tensors: map[string]Tensor{}}
	defer func() {
		if err != nil {
			_ = c.Close()
		}
	}()
	for _, p := range paths {
		f, err := OpenFile(p)
		if err != nil {
			return nil, err
		}
		c.files = append(c.files, f)
		for _, name := range f.names {
			if prev, dup := c.tensors[name]; dup {
				return nil, fmt.Errorf("%s: tensor %q is also in %s", p, name, prev.File)
			}
			c.tensors[name] = f.tensors[name]
		}
	}
	if idx != nil {
		names := make([]string, 0, len(idx.want))
		for name := range idx.want {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			shard := idx.want[name]
			t, ok := c.tensors[name]
			if !ok {
				return nil, fmt.Errorf("%s: maps tensor %q to %s, which does not contain it", idx.path, name, filepath.Base(shard))
			}
			if t.File != shard {
				return nil, fmt.Errorf("%s: maps tensor %q to %s, but it is in %s", idx.path, name, filepath.Base(shard), filepath.Base(t.File))
			}
		}
	}
	c.names = make([]string, 0, len(c.tensors))
	for name := range c.tensors {
		c.names = append(c.names, name)
	}
	sort.Strings(c.names)
	return c, nil
}

// Dir is the directory the checkpoint was opened from.
func (c *Checkpoint) Dir() string { return c.dir }

// Tensor looks a tensor up by name across all files.
func (c *Checkpoint) Tensor(name string) (Tensor, bool) {
	t, ok := c.tensors[name]
	return t, ok
}

// Names lists every tensor name of every file, sorted.
func (c *Checkpoint) Names() []string { return append([]string(nil), c.names...) }

// Files lists the paths of the weight files, sorted.
func (c *Checkpoint) Files() []string {
	out := make([]string, len(c.files))
	for i, f := range c.files {
		out[i] = f.path
	}
	return out
}

// DTypes sums the stored bytes of the tensors per dtype.
func (c *Checkpoint) DTypes() map[DType]int64 {
	out := map[DType]int64{}
	for _, t := range c.tensors {
		out[t.DType] += int64(len(t.Data))
	}
	return out
}

// StoredBytes is the total size of the tensors' data as stored (headers excluded).
func (c *Checkpoint) StoredBytes() int64 {
	var n int64
	for _, t := range c.tensors {
		n += int64(len(t.Data))
	}
	return n
}

// Close unmaps every file; see File.Close. Closing twice is a no-op.
func (c *Checkpoint) Close() error {
	var first error
	for _, f := range c.files {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	c.files, c.tensors, c.names = nil, nil, nil
	return first
}
