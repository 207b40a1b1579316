package vision_test

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"

	"github.com/neuronscope/neuronscope/model/vision"
)

func Example() {
	// A processor as a ViT checkpoint's preprocessor_config.json describes it.
	p, err := vision.Parse([]byte(`{"image_processor_type":"ViTImageProcessor","size":{"height":2,"width":2},
		"resample":2,"image_mean":[0.5,0.5,0.5],"image_std":[0.5,0.5,0.5]}`), "preprocessor_config.json")
	if err != nil {
		panic(err)
	}
	// A 4×4 RGB image, red ramp across columns, resized to 2×2 with Pillow's bilinear filter.
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	for y := 0; y < 4; y++ {
		for x := 0; x < 4; x++ {
			img.Set(x, y, color.RGBA{uint8(60 * x), 0, 255, 255})
		}
	}
	var buf bytes.Buffer
	png.Encode(&buf, img)
	im, err := vision.DecodeImage(&buf)
	if err != nil {
		panic(err)
	}
	px, err := p.Pixels(im) // [3, 2, 2], channels first, (v/255 − 0.5)/0.5
	if err != nil {
		panic(err)
	}
	fmt.Println(im.Mode, im.Width, im.Height)
	fmt.Printf("red %.4f\nblue %.4f\n", px[0:4], px[8:12])
	// Output:
	// RGB 4 4
	// red [-0.6627 0.0745 -0.6627 0.0745]
	// blue [1.0000 1.0000 1.0000 1.0000]
}
