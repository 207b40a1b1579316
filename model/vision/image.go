package vision

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"os"
)

// Image is a decoded image: its size, its pixels as 8-bit channels and PIL's name for its mode
// ("RGB", "RGBA", "L", "LA", "P", "CMYK"; 16-bit PNGs are refused).
type Image struct {
	Width, Height int
	Mode          string
	img           image.Image
}

// Channels is the number of channels of the image's mode (P, a palette, counts 1).
func (im *Image) Channels() int {
	switch im.Mode {
	case "RGB":
		return 3
	case "RGBA", "CMYK":
		return 4
	case "LA":
		return 2
	}
	return 1
}

// ReadImage decodes a PNG or JPEG file with Go's image packages. A file that is neither, or
// cannot be decoded, is an error naming it. JPEG decoding is Go's (image/jpeg): for
// chroma-subsampled files it can differ from libjpeg's (Pillow's) by a few levels per channel;
// PNG decoding is exact.
func ReadImage(path string) (*Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	im, err := DecodeImage(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return im, nil
}

// maxPixels bounds the images DecodeImage accepts (a header can claim any size).
const maxPixels = 1 << 26

// DecodeImage decodes a PNG or JPEG stream (see ReadImage). Images of more than 2^26 pixels
// are refused before decoding.
func DecodeImage(r io.Reader) (*Image, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var decode func(io.Reader) (image.Image, error)
	var config func(io.Reader) (image.Config, error)
	switch {
	case len(data) >= 8 && string(data[:8]) == "\x89PNG\r\n\x1a\n":
		decode, config = png.Decode, png.DecodeConfig
	case len(data) >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff:
		decode, config = jpeg.Decode, jpeg.DecodeConfig
	default:
		return nil, errors.New("not a PNG or JPEG image")
	}
	cfg, err := config(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("cannot decode image: %v", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > maxPixels/max(cfg.Height, 1) {
		return nil, fmt.Errorf("image of %d×%d pixels is empty or too large", cfg.Width, cfg.Height)
	}
	img, err := decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("cannot decode image: %v", err)
	}
	b := img.Bounds()
	im := &Image{Width: b.Dx(), Height: b.Dy(), img: img}
	if im.Width == 0 || im.Height == 0 {
		return nil, errors.New("image is empty")
	}
	switch m := img.(type) {
	case *image.RGBA, *image.YCbCr: // PNG truecolor without alpha decodes to opaque RGBA
		im.Mode = "RGB"
	case *image.NRGBA:
		im.Mode = "RGBA"
		if grayOnly(m) {
			im.Mode = "LA"
		}
	case *image.Gray:
		im.Mode = "L"
	case *image.Paletted:
		im.Mode = "P"
	case *image.CMYK:
		im.Mode = "CMYK"
	case *image.RGBA64, *image.NRGBA64, *image.Gray16:
		return nil, errors.New("16-bit images are not supported (the model's processor reads 8-bit channels)")
	default:
		return nil, fmt.Errorf("unsupported pixel layout %T", img)
	}
	return im, nil
}

// grayOnly reports whether every pixel of an NRGBA image has R = G = B (a gray+alpha PNG).
func grayOnly(m *image.NRGBA) bool {
	for i := 0; i+3 < len(m.Pix); i += 4 {
		if m.Pix[i] != m.Pix[i+1] || m.Pix[i] != m.Pix[i+2] {
			return false
		}
	}
	return true
}

// rgb returns the image's pixels as RGB [height, width, 3]: exact for RGB images; for RGBA, LA,
// L and P it converts as PIL's convert("RGB") does (alpha dropped, gray replicated, palette
// looked up). CMYK is refused by the caller.
func (im *Image) rgb() []uint8 {
	b := im.img.Bounds()
	out := make([]uint8, im.Width*im.Height*3)
	i := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			var r, g, bl uint8
			switch m := im.img.(type) {
			case *image.RGBA:
				c := m.RGBAAt(x, y)
				r, g, bl = c.R, c.G, c.B
			case *image.NRGBA:
				c := m.NRGBAAt(x, y)
				r, g, bl = c.R, c.G, c.B
			case *image.Gray:
				v := m.GrayAt(x, y).Y
				r, g, bl = v, v, v
			case *image.Paletted:
				c := color.NRGBAModel.Convert(m.Palette[m.ColorIndexAt(x, y)]).(color.NRGBA)
				r, g, bl = c.R, c.G, c.B
			default: // YCbCr: Go's conversion
				c := color.RGBAModel.Convert(im.img.At(x, y)).(color.RGBA)
				r, g, bl = c.R, c.G, c.B
			}
			out[i], out[i+1], out[i+2] = r, g, bl
			i += 3
		}
	}
	return out
}
