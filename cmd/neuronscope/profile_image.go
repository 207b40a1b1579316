package main

import (
	"fmt"
	"strings"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/tensor"
	"github.com/neuronscope/neuronscope/probes/profile"
	"github.com/spf13/cobra"
)

// imageContextRule states how profile turns images into contexts.
const imageContextRule = "one context per image: its tokens, [CLS] then the patches in raster order (position k has token id k); every token counted; document = the image's ordinal in the list"

// runProfileImages profiles the neurons of an image classifier over images: each image one
// context of its tokens (CLS and the patches), read and run in batches of --batch images.
func runProfileImages(cmd *cobra.Command, mf *modelFlags, f *profileFlags) (rerr error) {
	switch {
	case f.data != "":
		return usagef("give either --data (text) or --image/--images, not both")
	case f.out == "":
		return usagef("--out is required")
	case f.resume || f.beam.runner != "":
		return usagef("--resume and --runner are for text datasets; an image profile runs in one go")
	}
	if err := checkOutDir("--out", f.out); err != nil {
		return err
	}
	data := f.img.list
	if data == "" {
		data = strings.Join(f.img.files, ",")
	}
	sum := ""
	if f.img.list != "" {
		var err error
		if sum, err = fileSHA256(f.img.list); err != nil {
			return usagef("--images %v", err)
		}
	}
	f.lmHead, f.dla = 0, 0 // an image classifier has no vocabulary to decode into
	ctxGiven := cmd.Flags().Changed("ctx")
	f.ctx = 2
	s, err := setupProfile(cmd, mf, f, sum)
	if err != nil {
		return err
	}
	m, points := s.m, s.points
	defer m.Close()
	if ctxGiven {
		return usagef("--ctx: an image's context is its %d tokens", m.Config.MaxPos)
	}
	set, proc, err := f.img.listImages(m)
	if err != nil {
		return err
	}
	T := m.Config.MaxPos
	s.set.Data, s.set.Ctx, s.set.BOSPolicy, s.set.ContextRule = data, T, "none (images)", imageContextRule
	s.set.Options.IncludeBOS = true
	s.opt.IncludeBOS = true
	p := profile.New(s.opt)
	cleanup, err := makeOutDir(f.out)
	if err != nil {
		return err
	}
	defer func() {
		if rerr != nil {
			cleanup()
		}
	}()
	var bar interface{ Add(int) error }
	if !f.noProgress {
		b := newBar(cmd, int64(len(set.files)), "profiling", "images")
		defer b.Close()
		bar = b
	}
	ids := make([]int, T)
	for k := range ids {
		ids[k] = k
	}
	for lo := 0; lo < len(set.files); lo += f.batch {
		hi := min(lo+f.batch, len(set.files))
		px, err := proc.ReadFiles(set.files[lo:hi]...)
		if err != nil {
			return f.img.fileError(err)
		}
		rows := make([]corpus.Context, hi-lo)
		for i := range rows {
			rows[i] = corpus.Context{IDs: ids, Doc: int64(lo + i), Index: int64(lo + i)}
		}
		observe := func(pt hooks.Point, a *tensor.Tensor) error {
			return p.Observe(pt, a.Data, rows, a.Shape[1], a.Shape[2])
		}
		opts := make([]hooks.Option, len(points))
		for i, pt := range points {
			opts[i] = hooks.ObservePoint(pt, observe)
		}
		if _, err := m.ForwardImages(px, opts...); err != nil {
			return err
		}
		p.EndBatch(rows)
		if bar != nil {
			_ = bar.Add(hi - lo)
		}
	}
	p.Finish()
	prov := s.provenance(f)
	prov.BOSPolicy = ""
	prov.Dataset = fmt.Sprintf("%s, %d images × %d tokens", data, len(set.files), T)
	if sum != "" {
		prov.Dataset = fmt.Sprintf("%s (sha256 %s), %d images × %d tokens", data, sum, len(set.files), T)
	}
	if err := p.WriteExports(f.out, prov, s.set, patchNames(m.Config.ImageSize/m.Config.PatchSize), nil); err != nil {
		return err
	}
	neurons := 0
	for _, l := range p.Layers {
		neurons += l.N
	}
	fmt.Fprintf(cmd.OutOrStdout(), "profiled %d neurons at %d hook points over %d images (%d tokens) → %s\n",
		neurons, len(p.Layers), len(set.files), p.Tokens, f.out)
	return nil
}

// patchNames names an image's positions: [CLS], then patch (row, col) of a side×side grid.
func patchNames(side int) profile.TokenNamer {
	return func(k int) string {
		if k == 0 {
			return "[CLS]"
		}
		return fmt.Sprintf("[patch %d,%d]", (k-1)/side, (k-1)%side)
	}
}
