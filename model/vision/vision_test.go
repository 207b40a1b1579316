package vision

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/internal/fixtures"
)

func vitFixture(t *testing.T) string {
	t.Helper()
	fixtures.Dir(t)
	dir := filepath.Join(fixtures.FamiliesRoot(), "vit-random")
	if _, err := os.Stat(filepath.Join(dir, "preprocessor_config.json")); err != nil {
		t.Fatalf("vit fixture: %v", err)
	}
	return dir
}

func want(t *testing.T, dir, name string) []float32 {
	t.Helper()
	d, _ := fixtures.Float32s(t, filepath.Join(dir, "pixel_values.safetensors"), name)
	return d
}

// TestFixturePixels: the fixture's images give ViTImageProcessor's pixel_values bit for bit,
// including a real bilinear resize (40×48 -> 32×32, Pillow's antialiased filter).
func TestFixturePixels(t *testing.T) {
	dir := vitFixture(t)
	p, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if p.Height != 32 || p.Width != 32 || p.Resample != Bilinear || p.ConvertRGB {
		t.Fatalf("processor %+v", p)
	}
	px, err := p.ReadFiles(filepath.Join(dir, "image_0.png"), filepath.Join(dir, "image_1.png"))
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string][]float32{"pixel_values": px.Data} {
		w := want(t, dir, name)
		if len(w) != len(got) {
			t.Fatalf("%s: %d values, want %d", name, len(got), len(w))
		}
		for i := range w {
			if got[i] != w[i] {
				t.Fatalf("%s[%d] = %.9g, want %.9g (bit-exact)", name, i, got[i], w[i])
			}
		}
	}
	rs, err := p.ReadFiles(filepath.Join(dir, "resize_check_40x48.png"))
	if err != nil {
		t.Fatal(err)
	}
	w := want(t, dir, "resize_check_pixel_values")
	bad := 0
	for i := range w {
		if rs.Data[i] != w[i] {
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("resize check: %d of %d pixel values differ from Pillow's bilinear resize", bad, len(w))
	}
}

// TestResampleFilters: every filter keeps a constant image constant and downsizes a ramp
// monotonically; upsizing works too.
func TestResampleFilters(t *testing.T) {
	const w, h = 13, 9
	flat := bytes.Repeat([]uint8{200, 10, 77}, w*h)
	ramp := make([]uint8, w*h*3)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			for c := 0; c < 3; c++ {
				ramp[(y*w+x)*3+c] = uint8(x * 19)
			}
		}
	}
	for rs := range filters {
		for _, size := range [][2]int{{5, 4}, {20, 17}, {13, 4}, {7, 9}} {
			out := resize(flat, w, h, size[0], size[1], rs)
			for i, v := range out {
				if v != flat[i%3] {
					t.Fatalf("%s %v: constant image changed to %d", rs, size, v)
				}
			}
			r := resize(ramp, w, h, size[0], size[1], rs)
			if rs == Box || rs == Bilinear || rs == Hamming {
				for x := 1; x < size[0]; x++ {
					if r[x*3] < r[(x-1)*3] {
						t.Fatalf("%s %v: ramp not monotone: %d then %d", rs, size, r[(x-1)*3], r[x*3])
					}
				}
			}
		}
	}
}

func pngBytes(t *testing.T, img image.Image) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestBadImages: undecodable files, non-RGB images without do_convert_rgb, and bad
// preprocessor configs are errors naming the file and the key or mode.
func TestBadImages(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	rgba := image.NewNRGBA(image.Rect(0, 0, 4, 4))
	for i := range rgba.Pix {
		rgba.Pix[i] = uint8(i * 7)
	}
	gray := image.NewGray(image.Rect(0, 0, 4, 4))
	pal := image.NewPaletted(image.Rect(0, 0, 4, 4), color.Palette{color.RGBA{1, 2, 3, 255}, color.RGBA{200, 100, 50, 255}})
	pal.Pix[5] = 1
	files := map[string]string{
		"text":      write("a.png", []byte("hello, not an image")),
		"truncated": write("b.png", pngBytes(t, rgba)[:40]),
		"rgba":      write("c.png", pngBytes(t, rgba)),
		"gray":      write("d.png", pngBytes(t, gray)),
		"palette":   write("e.png", pngBytes(t, pal)),
	}
	p, err := Parse([]byte(`{"size":{"height":4,"width":4},"resample":2}`), "x/preprocessor_config.json")
	if err != nil {
		t.Fatal(err)
	}
	for what, wantErr := range map[string]string{"text": "not a PNG or JPEG", "truncated": "cannot decode", "rgba": "mode RGBA (4 channels)",
		"gray": "mode L (1 channels)", "palette": "mode P"} {
		_, err := p.ReadFiles(files[what])
		if err == nil || !strings.Contains(err.Error(), wantErr) || !strings.Contains(err.Error(), files[what]) {
			t.Errorf("%s: error %v, want one naming the file and %q", what, err, wantErr)
		}
	}
	if _, err := p.ReadFiles(filepath.Join(dir, "missing.png")); err == nil {
		t.Error("missing file: no error")
	}
	if _, err := p.ReadFiles(); err == nil {
		t.Error("no files: no error")
	}
	conv, _ := Parse([]byte(`{"size":{"height":4,"width":4},"do_convert_rgb":true}`), "x/preprocessor_config.json")
	px, err := conv.ReadFiles(files["rgba"], files["gray"], files["palette"])
	if err != nil {
		t.Fatal(err)
	}
	// RGBA: alpha dropped; gray: replicated; palette: looked up. Values are v/127.5 − 1.
	check := func(img, c, i int, v uint8) {
		t.Helper()
		got := px.Data[((img*3+c)*4*4)+i]
		want := (float32(float64(v)*(1.0/255)) - 0.5) / 0.5
		if got != want {
			t.Errorf("image %d channel %d pixel %d: %g, want %g (from %d)", img, c, i, got, want, v)
		}
	}
	check(0, 1, 1, rgba.Pix[4+1])
	check(1, 2, 3, gray.Pix[3])
	check(2, 0, 5, 200)
	check(2, 2, 0, 3)
	bad := map[string]string{
		`{"resample": 0}`:                                   `resample 0 (nearest) is not supported`,
		`{"resample": 7}`:                                   `resample 7 (unknown) is not supported`,
		`{"size": {"shortest_edge": 224}}`:                  `key "size"`,
		`{"do_center_crop": true, "crop_size": 224}`:        `keys crop_size, do_center_crop are not supported`,
		`{"image_processor_type": "ViTImageProcessorFast"}`: `image_processor_type "ViTImageProcessorFast" is not supported`,
		`{"image_mean": [0.5, 0.5]}`:                        `key "image_mean" must be 3 numbers`,
		`{"rescale_factor": -1}`:                            `key "rescale_factor"`,
		`{"do_resize": "yes"}`:                              `key "do_resize" must be true or false`,
		`[1, 2]`:                                            `not a JSON object`,
	}
	for js, wantErr := range bad {
		_, err := Parse([]byte(js), "x/preprocessor_config.json")
		if err == nil || !strings.Contains(err.Error(), wantErr) || !strings.HasPrefix(err.Error(), "x/preprocessor_config.json") {
			t.Errorf("%s: error %v, want one naming the file and %q", js, err, wantErr)
		}
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "no preprocessor_config.json") {
		t.Errorf("missing config: %v", err)
	}
}

// TestLegacyConfig: ViTFeatureExtractor configs (size as one number) read the same.
func TestLegacyConfig(t *testing.T) {
	p, err := Parse([]byte(`{"do_normalize":true,"do_resize":true,"feature_extractor_type":"ViTFeatureExtractor",
		"image_mean":[0.485,0.456,0.406],"image_std":[0.229,0.224,0.225],"resample":3,"size":224}`), "c")
	if err != nil {
		t.Fatal(err)
	}
	if p.Height != 224 || p.Width != 224 || p.Resample != Bicubic || math.Abs(float64(p.Std[2])-0.225) > 1e-7 || p.RescaleFactor != 1.0/255 {
		t.Errorf("%+v", p)
	}
}

// FuzzPreprocess: arbitrary preprocessor configs and image bytes give an error or pixel values
// of the configured size, never a panic.
func FuzzPreprocess(f *testing.F) {
	img := image.NewRGBA(image.Rect(0, 0, 5, 3))
	var b bytes.Buffer
	png.Encode(&b, img)
	f.Add([]byte(`{"size":{"height":4,"width":2},"resample":3}`), b.Bytes())
	f.Add([]byte(`{"size":7,"resample":1,"do_convert_rgb":true}`), []byte("\x89PNG\r\n\x1a\n"))
	f.Fuzz(func(t *testing.T, cfg, data []byte) {
		p, err := Parse(cfg, "fuzz")
		if err != nil || p.Height*p.Width > 1<<16 {
			return
		}
		im, err := DecodeImage(bytes.NewReader(data))
		if err != nil || im.Width*im.Height > 1<<16 {
			return
		}
		px, err := p.Pixels(im)
		if err == nil && p.Resize && len(px) != 3*p.Height*p.Width {
			t.Fatalf("%d pixel values for %d×%d", len(px), p.Height, p.Width)
		}
	})
}

// TestFillAndMean: a black image's pixel values are those Pixels gives a decoded black PNG,
// and the mean image is zero after normalization.
func TestFillAndMean(t *testing.T) {
	p, err := Parse([]byte(`{"size":{"height":4,"width":4},"image_mean":[0.5,0.4,0.3],"image_std":[0.5,0.25,0.2]}`), "pp.json")
	if err != nil {
		t.Fatal(err)
	}
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	for i := 3; i < len(img.Pix); i += 4 {
		img.Pix[i] = 255
	}
	im, err := DecodeImage(bytes.NewReader(pngBytes(t, img)))
	if err != nil {
		t.Fatal(err)
	}
	want, err := p.Pixels(im)
	if err != nil {
		t.Fatal(err)
	}
	got := p.Fill([3]uint8{})
	for i := range want {
		if got.Data[i] != want[i] {
			t.Fatalf("black pixel %d: %g, decoded black PNG %g", i, got.Data[i], want[i])
		}
	}
	if want[0] != -1 || want[16] != -1.6 {
		t.Errorf("black pixel values %g, %g: want (0 − mean)/std = -1, -1.6", want[0], want[16])
	}
	for _, v := range p.MeanImage().Data {
		if v != 0 {
			t.Fatalf("mean image pixel %g, want 0", v)
		}
	}
}
