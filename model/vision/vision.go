package vision

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/neuronscope/neuronscope/model/tensor"
)

// Processor turns images into a ViT's pixel values exactly as Hugging Face's (slow)
// ViTImageProcessor does with a checkpoint's preprocessor_config.json: optional RGB conversion,
// resize to Height×Width with Pillow's filter, rescale, normalize, channels first.
type Processor struct {
	ConvertRGB    bool     // do_convert_rgb: convert RGBA, LA, L and P images to RGB (else they are refused)
	Resize        bool     // do_resize
	Height, Width int      // size
	Resample      Resample // resample (PIL filter number)
	Rescale       bool     // do_rescale
	RescaleFactor float64  // rescale_factor (1/255)
	Normalize     bool     // do_normalize
	Mean, Std     [3]float32
	Path          string // preprocessor_config.json path, for errors
}

// Load reads dir/preprocessor_config.json.
func Load(dir string) (*Processor, error) {
	path := filepath.Join(dir, "preprocessor_config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: no preprocessor_config.json: an image model needs it to prepare images", dir)
		}
		return nil, err
	}
	return Parse(data, path)
}

// knownKeys are the preprocessor_config.json keys Parse reads or knows not to matter.
var knownKeys = map[string]bool{
	"do_convert_rgb": true, "do_resize": true, "size": true, "resample": true, "do_rescale": true,
	"rescale_factor": true, "do_normalize": true, "image_mean": true, "image_std": true,
	"image_processor_type": true, "feature_extractor_type": true, "processor_class": true,
}

// Parse reads preprocessor_config.json bytes (name is the path, for errors). HF's defaults fill
// absent keys (resize to 224×224 bilinear, rescale 1/255, normalize with mean = std = 0.5).
// Processors other than ViTImageProcessor / ViTFeatureExtractor, unknown keys, a resample filter
// other than PIL's lanczos, bilinear, bicubic, box or hamming, and malformed values are errors
// naming the file and key.
func Parse(data []byte, name string) (*Processor, error) {
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&raw); err != nil || raw == nil {
		return nil, fmt.Errorf("%s: not a JSON object", name)
	}
	fail := func(format string, a ...any) (*Processor, error) {
		return nil, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, a...))
	}
	var unknown []string
	for k := range raw {
		if !knownKeys[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fail("keys %s are not supported (neuronscope implements ViTImageProcessor)", strings.Join(unknown, ", "))
	}
	for _, k := range []string{"image_processor_type", "feature_extractor_type"} {
		if v, ok := raw[k]; ok {
			var s string
			if json.Unmarshal(v, &s) != nil || (s != "ViTImageProcessor" && s != "ViTFeatureExtractor") {
				return fail("%s %s is not supported (neuronscope implements ViTImageProcessor)", k, v)
			}
		}
	}
	p := &Processor{Resize: true, Height: 224, Width: 224, Resample: Bilinear, Rescale: true, RescaleFactor: 1.0 / 255,
		Normalize: true, Mean: [3]float32{0.5, 0.5, 0.5}, Std: [3]float32{0.5, 0.5, 0.5}, Path: name}
	boolKey := func(k string, dst *bool) error {
		if v, ok := raw[k]; ok && string(v) != "null" {
			if err := json.Unmarshal(v, dst); err != nil {
				return fmt.Errorf("%s: key %q must be true or false, got %s", name, k, v)
			}
		}
		return nil
	}
	for k, dst := range map[string]*bool{"do_convert_rgb": &p.ConvertRGB, "do_resize": &p.Resize, "do_rescale": &p.Rescale, "do_normalize": &p.Normalize} {
		if err := boolKey(k, dst); err != nil {
			return nil, err
		}
	}
	if v, ok := raw["size"]; ok {
		var side int
		var hw struct {
			Height, Width int
			ShortestEdge  int `json:"shortest_edge"`
		}
		switch {
		case json.Unmarshal(v, &side) == nil && side > 0:
			p.Height, p.Width = side, side
		case json.Unmarshal(v, &hw) == nil && hw.Height > 0 && hw.Width > 0 && hw.ShortestEdge == 0:
			p.Height, p.Width = hw.Height, hw.Width
		default:
			return fail(`key "size" must be a positive integer or {"height": H, "width": W}, got %s`, v)
		}
	}
	if v, ok := raw["resample"]; ok {
		var r int
		if err := json.Unmarshal(v, &r); err != nil {
			return fail(`key "resample" must be a PIL filter number, got %s`, v)
		}
		if _, ok := filters[Resample(r)]; !ok {
			return fail(`resample %d (%s) is not supported: neuronscope implements PIL's lanczos (1), bilinear (2), bicubic (3), box (4) and hamming (5)`, r, Resample(r))
		}
		p.Resample = Resample(r)
	}
	if v, ok := raw["rescale_factor"]; ok {
		if err := json.Unmarshal(v, &p.RescaleFactor); err != nil || !(p.RescaleFactor > 0) {
			return fail(`key "rescale_factor" must be a positive number, got %s`, v)
		}
	}
	for k, dst := range map[string]*[3]float32{"image_mean": &p.Mean, "image_std": &p.Std} {
		if v, ok := raw[k]; ok {
			var xs []float32
			if err := json.Unmarshal(v, &xs); err != nil || len(xs) != 3 {
				var x float32
				if json.Unmarshal(v, &x) != nil {
					return fail("key %q must be 3 numbers (one per RGB channel), got %s", k, v)
				}
				xs = []float32{x, x, x}
			}
			copy(dst[:], xs)
		}
	}
	for i, s := range p.Std {
		if p.Normalize && s == 0 {
			return fail("image_std[%d] is 0", i)
		}
	}
	return p, nil
}

// Pixels preprocesses one image into pixel values [3, Height, Width] (channels first, RGB):
// the uint8 image is resized with Pillow's filter (rounded to uint8 per pass, as Pillow does);
// then v -> float32(v·rescale_factor) (the product in float64) and x -> (x − mean)/std in
// float32, as ViTImageProcessor's numpy code computes them. An image that is not RGB is an
// error unless do_convert_rgb is true.
func (p *Processor) Pixels(im *Image) ([]float32, error) {
	if im.Mode != "RGB" && (!p.ConvertRGB || im.Mode == "CMYK") {
		return nil, fmt.Errorf("image has mode %s (%d channels); the model takes 3-channel RGB images (%s: do_convert_rgb is not true)",
			im.Mode, im.Channels(), p.Path)
	}
	pix := im.rgb()
	w, h := im.Width, im.Height
	if p.Resize && (w != p.Width || h != p.Height) {
		pix = resize(pix, w, h, p.Width, p.Height, p.Resample)
		w, h = p.Width, p.Height
	}
	out := make([]float32, 3*w*h)
	for c := 0; c < 3; c++ {
		for i := 0; i < w*h; i++ {
			x := float32(pix[i*3+c])
			if p.Rescale {
				x = float32(float64(pix[i*3+c]) * p.RescaleFactor)
			}
			if p.Normalize {
				x = (x - p.Mean[c]) / p.Std[c]
			}
			out[c*w*h+i] = x
		}
	}
	return out, nil
}

// ReadFiles reads and preprocesses image files into one batch of pixel values
// [n, 3, Height, Width], the input of model.ForwardImages. Errors name the file.
func (p *Processor) ReadFiles(paths ...string) (*tensor.Tensor, error) {
	if len(paths) == 0 {
		return nil, errors.New("no image given")
	}
	if !p.Resize {
		return nil, fmt.Errorf("%s: do_resize is false: images of different sizes cannot form a batch; neuronscope needs do_resize", p.Path)
	}
	per := 3 * p.Height * p.Width
	out := tensor.New(len(paths), 3, p.Height, p.Width)
	for i, path := range paths {
		im, err := ReadImage(path)
		if err != nil {
			return nil, err
		}
		px, err := p.Pixels(im)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		copy(out.Data[i*per:(i+1)*per], px)
	}
	return out, nil
}

// Fill returns the pixel values [1, 3, Height, Width] of an image whose every pixel is rgb
// (black is {0, 0, 0}), rescaled and normalized as Pixels does: the black-image baseline of
// integrated gradients on pixels' side.
func (p *Processor) Fill(rgb [3]uint8) *tensor.Tensor {
	out := tensor.New(1, 3, p.Height, p.Width)
	n := p.Height * p.Width
	for c := 0; c < 3; c++ {
		x := float32(rgb[c])
		if p.Rescale {
			x = float32(float64(rgb[c]) * p.RescaleFactor)
		}
		if p.Normalize {
			x = (x - p.Mean[c]) / p.Std[c]
		}
		for i := 0; i < n; i++ {
			out.Data[c*n+i] = x
		}
	}
	return out
}

// MeanImage returns the pixel values [1, 3, Height, Width] of the processor's mean image, every
// pixel image_mean: all zeros when do_normalize is set (else image_mean itself, in rescaled
// units): the mean baseline of integrated gradients.
func (p *Processor) MeanImage() *tensor.Tensor {
	out := tensor.New(1, 3, p.Height, p.Width)
	if p.Normalize {
		return out
	}
	n := p.Height * p.Width
	for c := 0; c < 3; c++ {
		for i := 0; i < n; i++ {
			out.Data[c*n+i] = p.Mean[c]
		}
	}
	return out
}
