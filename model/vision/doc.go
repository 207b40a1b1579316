// Package vision reads images and prepares them for an image model (ViT) exactly as the
// checkpoint's preprocessor_config.json says, the way Hugging Face's slow ViTImageProcessor
// does. Its entry point is Load (the processor of a checkpoint directory) followed by
// Processor.ReadFiles, whose [n, 3, height, width] pixel values model.Model.ForwardImages and
// GradientImages take:
//
//	p, err := vision.Load("path/to/vit")                 // preprocessor_config.json
//	px, err := p.ReadFiles("cat.png", "dog.jpg")         // [2, 3, 224, 224]
//	res, err := m.ForwardImages(px, hooks.Capture("blocks.*.mlp.hook_post"))
//
// # Pipeline
//
// For each image, as ViTImageProcessor.preprocess with its config's keys:
//
//  1. decode (ReadImage: PNG or JPEG through Go's image packages) to 8-bit channels; an image
//     that is not RGB (RGBA, LA, L, P, CMYK) is refused unless do_convert_rgb is true, which
//     converts it as PIL's convert("RGB") (alpha dropped, gray replicated, palette looked up;
//     CMYK is always refused);
//  2. do_resize: resize to size (height×width) with Pillow's resampling filter resample
//     (1 lanczos, 2 bilinear, 3 bicubic, 4 box, 5 hamming; 0 nearest is refused): Pillow's
//     separable, antialiased convolution in 22-bit fixed point, horizontal pass first, each
//     pass rounded to uint8 — bit for bit what Image.resize(reducing_gap=None) returns; an image
//     already of that size is not touched;
//  3. do_rescale: x = float32(v · rescale_factor) (the product in float64, as numpy);
//  4. do_normalize: x = (x − image_mean[c]) / image_std[c] in float32;
//  5. channels first: [3, height, width].
//
// Defaults are HF's (224×224, bilinear, 1/255, mean = std = 0.5). JPEG decoding is Go's: for
// chroma-subsampled JPEGs it differs from libjpeg (Pillow) by a few levels; PNG is exact.
// Unknown config keys and other processor types (with center crops, shortest-edge sizes, the
// torchvision "fast" processor) are errors naming the file and key.
//
// Baselines: Processor.Fill gives the pixel values of a constant image (black is {0, 0, 0}),
// Processor.MeanImage those of the preprocessor's mean image (all zeros after normalization):
// the black and mean baselines of integrated gradients on images.
package vision
