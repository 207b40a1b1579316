package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/tensor"
	"github.com/neuronscope/neuronscope/model/vision"
	"github.com/spf13/cobra"
)

// imageFlags are the image inputs of a command run on an image classifier (ViT): --image FILE
// (repeatable) and, for dataset-style commands, --images FILE.jsonl of labelled images.
type imageFlags struct {
	files []string
	list  string
}

// register adds --image, and --images when list is set.
func (f *imageFlags) register(cmd *cobra.Command, list bool) {
	cmd.Flags().StringArrayVar(&f.files, "image", nil, "image file (PNG or JPEG) for an image classifier (ViT), prepared as its preprocessor_config.json says; repeat for several")
	if list {
		cmd.Flags().StringVar(&f.list, "images", "", `JSONL of labelled images for an image classifier, one per line: {"image": PATH, "label": NAME|ID} ("class" for "label"; paths relative to the file)`)
	}
}

func (f *imageFlags) given() bool { return len(f.files) > 0 || f.list != "" }

// imageSet is a batch of images: their files, pixel values [n, 3, size, size], classes (-1
// where a file has no label) and the other string fields of their --images lines.
type imageSet struct {
	files  []string
	labels []int
	extra  []map[string]string
	pixels *tensor.Tensor
}

// image is image i as a [1, 3, size, size] batch.
func (s *imageSet) image(i int) *tensor.Tensor {
	per := len(s.pixels.Data) / s.pixels.Shape[0]
	sh := s.pixels.Shape
	return tensor.From(s.pixels.Data[i*per:(i+1)*per], 1, sh[1], sh[2], sh[3])
}

// load reads the images given (--image files first, then the --images list) with the model's
// preprocessor. Errors are usage errors naming the flag and file.
func (f *imageFlags) load(m *model.Model) (*imageSet, error) {
	s, proc, err := f.listImages(m)
	if err != nil {
		return nil, err
	}
	if s.pixels, err = proc.ReadFiles(s.files...); err != nil {
		return nil, f.fileError(err)
	}
	return s, nil
}

// fileError is a usage error naming the image flag.
func (f *imageFlags) fileError(err error) error {
	flag := "--image"
	if f.list != "" {
		flag = "--images"
	}
	return usagef("%s %v", flag, err)
}

// listImages lists the images given and their labels (no pixels read) with the model's
// preprocessor, which reads them.
func (f *imageFlags) listImages(m *model.Model) (*imageSet, *vision.Processor, error) {
	if err := requireImageModel(m, true); err != nil {
		return nil, nil, err
	}
	s := &imageSet{}
	for _, p := range f.files {
		s.files, s.labels, s.extra = append(s.files, p), append(s.labels, -1), append(s.extra, nil)
	}
	if f.list != "" {
		files, labels, extra, err := readImageList(f.list, m.Config.Labels)
		if err != nil {
			return nil, nil, err
		}
		s.files, s.labels, s.extra = append(s.files, files...), append(s.labels, labels...), append(s.extra, extra...)
	}
	if len(s.files) == 0 {
		return nil, nil, usagef("%s is an image classifier (model_type %s): give --image FILE", m.Dir, m.Config.ModelType)
	}
	proc, err := vision.Load(m.Dir)
	if err != nil {
		return nil, nil, err
	}
	return s, proc, nil
}

// readImageList reads a JSONL of {"image": path, "label"|"class": name or id, other string
// fields}; relative paths are relative to the list's directory. The other string fields are
// labels (extra), as in prompt files.
func readImageList(path string, names []string) (files []string, labels []int, extra []map[string]string, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, nil, usagef("--images %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<16), 1<<24)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var rec map[string]json.RawMessage
		if err := json.Unmarshal([]byte(text), &rec); err != nil || rec == nil {
			return nil, nil, nil, usagef("--images %s:%d: not a JSON object", path, line)
		}
		var file string
		if err := json.Unmarshal(rec["image"], &file); err != nil || file == "" {
			return nil, nil, nil, usagef(`--images %s:%d: "image" must be a file path`, path, line)
		}
		more := map[string]string{}
		for k, raw := range rec {
			if k == "image" || k == "label" || k == "class" {
				continue
			}
			var v string
			if err := json.Unmarshal(raw, &v); err != nil {
				return nil, nil, nil, usagef(`--images %s:%d: field %q: labels besides "image" and "label"/"class" must be strings`, path, line, k)
			}
			more[k] = v
		}
		if !filepath.IsAbs(file) {
			file = filepath.Join(filepath.Dir(path), file)
		}
		raw, ok := rec["label"]
		if c, has := rec["class"]; has {
			if ok {
				return nil, nil, nil, usagef(`--images %s:%d: give "label" or "class", not both`, path, line)
			}
			raw, ok = c, true
		}
		label := -1
		if ok {
			var v any
			_ = json.Unmarshal(raw, &v)
			if label, err = parseClass(v, names); err != nil {
				return nil, nil, nil, usagef("--images %s:%d: %v", path, line, err)
			}
		}
		files, labels, extra = append(files, file), append(labels, label), append(extra, more)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, nil, usagef("--images %s: %v", path, err)
	}
	if len(files) == 0 {
		return nil, nil, nil, usagef("--images %s has no images", path)
	}
	return files, labels, extra, nil
}

// parseClass reads a class given as an id (a JSON number or a numeric string) or as a label
// name from the config's id2label.
func parseClass(v any, names []string) (int, error) {
	switch x := v.(type) {
	case float64:
		if x != float64(int(x)) || x < 0 || int(x) >= len(names) {
			return 0, fmt.Errorf("class %v is not a class id in [0, %d)", x, len(names))
		}
		return int(x), nil
	case string:
		return classID(x, names)
	}
	return 0, fmt.Errorf("label %v: want a class id or a label name", v)
}

// classID resolves a class id or a label name of id2label.
func classID(s string, names []string) (int, error) {
	for i, n := range names {
		if n != "" && n == s {
			return i, nil
		}
	}
	if id, err := strconv.Atoi(s); err == nil {
		if id < 0 || id >= len(names) {
			return 0, fmt.Errorf("class %d is outside the model's %d classes", id, len(names))
		}
		return id, nil
	}
	known := strings.Join(names, ", ")
	if len(known) > 200 {
		known = known[:200] + "…"
	}
	return 0, fmt.Errorf("%q is neither a class id nor a label of the model's id2label (%s)", s, known)
}

// className is "id (label)" or "id".
func className(m *model.Model, id int) string {
	if id >= 0 && id < len(m.Config.Labels) && m.Config.Labels[id] != "" {
		return fmt.Sprintf("%d (%s)", id, m.Config.Labels[id])
	}
	return strconv.Itoa(id)
}

// requireImageModel checks the model type against the input kind: images need an image
// classifier (images=true), prompts a language model.
func requireImageModel(m *model.Model, images bool) error {
	switch {
	case images && !m.Config.ImageModel():
		return usagef("--image: %s is a language model (model_type %s); give prompts", m.Dir, m.Config.ModelType)
	case !images && m.Config.ImageModel():
		return usagef("%s is an image classifier (model_type %s): it takes --image FILE, not prompts", m.Dir, m.Config.ModelType)
	}
	return nil
}

// textOnly refuses an image classifier in a command that works on text only.
func textOnly(m *model.Model, command string) error {
	if m.Config.ImageModel() {
		return usagef("%s works on text and %s is an image classifier (model_type %s); neuronscope takes --image for an image model in attribute, trace, find path, profile, verify (paths), ablate selectivity and decode --resid", command, m.Dir, m.Config.ModelType)
	}
	return nil
}

// checkPromptFlags refuses prompts and images together.
func checkPromptFlags(in *inputFlags, im *imageFlags) error {
	if im.given() && (len(in.ids) > 0 || len(in.texts) > 0 || in.jsonl != "") {
		return usagef("give either prompts (--ids, --text, --jsonl) or --image, not both")
	}
	return nil
}
