package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/neuronscope/neuronscope/attribute"
	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/spf13/cobra"
)

// runFindPathImages is find path on the images of an image classifier: NeuronPath at the CLS
// token for the probability of each image's label (its predicted class where it has none).
func runFindPathImages(cmd *cobra.Command, mf *modelFlags, f *pathFlags, im *imageFlags) error {
	if f.eval != "" {
		return usagef("give either --eval (prompts) or --image/--images, not both")
	}
	if f.out == "" {
		return usagef("--out is required")
	}
	target, site, err := f.check()
	if err != nil {
		return err
	}
	if f.position != "last" && f.position != "0" {
		return usagef("--position %s: an image classifier's path is at position 0 (the CLS token)", f.position)
	}
	key, value, err := f.groupFilter()
	if err != nil {
		return err
	}
	if err := checkOutFile("--out", f.out); err != nil {
		return err
	}
	m, err := mf.load(cmd)
	if err != nil {
		return err
	}
	defer m.Close()
	if !m.Catalog().Has(hooks.At(0, site)) {
		return usagef("--site %s: this model has none", site)
	}
	set, err := im.load(m)
	if err != nil {
		return err
	}
	type item struct {
		i      int
		id     string
		labels map[string]string
	}
	var items []item
	ids := imageIDs(set.files)
	for i, file := range set.files {
		id := ids[i]
		labels := map[string]string{"image": file}
		for k, v := range set.extra[i] {
			labels[k] = v
		}
		if set.labels[i] >= 0 {
			labels["class"] = classLabel(m, set.labels[i])
		}
		if (key == "" || labels[key] == value) && (f.item == "" || id == f.item) {
			items = append(items, item{i, id, labels})
		}
	}
	if len(items) == 0 {
		return usagef("no image matches --group %q --item %q", f.group, f.item)
	}
	if f.limit > 0 && len(items) > f.limit {
		items = items[:f.limit]
	}
	opt := attribute.PathOptions{Steps: f.steps, Site: site, Target: target, Width: f.width, TopK: f.topK}
	st := &attribute.PathSettings{Procedure: attribute.PathProcedure + "; image classifier: the CLS token's units, the class's probability from CLS",
		Steps: f.steps, Target: target.String(), Site: site.String(), Position: imagePathPosition, Width: f.width, TopK: f.topK, Group: f.group}
	out := &hooks.NeuronSet{Method: "neuronpath", Tap: site, Settings: st}
	bar := newBar(cmd, int64(len(items)), "neuron paths", "images")
	var paths [][]hooks.ScoredNeuron
	for _, it := range items {
		t0 := time.Now()
		px := set.image(it.i)
		class := set.labels[it.i]
		if class < 0 {
			res, err := m.ForwardImages(px)
			if err != nil {
				return err
			}
			class = model.Argmax(res.Logits.Row(0))
			it.labels["class"] = classLabel(m, class)
			it.labels["class_source"] = "predicted"
		}
		res, err := attribute.NeuronPathImage(m, px, class, opt)
		if err != nil {
			return fmt.Errorf("image %s: %w", set.files[it.i], err)
		}
		suffix := ""
		if len(items) > 1 {
			suffix = "/" + it.id
		}
		out.Groups = append(out.Groups, res.PathGroups(suffix)...)
		st.Items = append(st.Items, res.Item(it.id, it.labels, time.Since(t0).Seconds()))
		paths = append(paths, res.Path)
		bar.Add(1)
	}
	bar.Finish()
	prov := m.Provenance()
	prov.Dataset = strings.Join(set.files, ",")
	if im.list != "" {
		prov.Dataset = im.list
	}
	return writePaths(cmd, f, out, paths, prov)
}

// imagePathPosition is the position a path set of images records: the CLS token.
const imagePathPosition = "0 (CLS)"

// classLabel is a class's id2label name, or its id where it has none.
func classLabel(m *model.Model, id int) string {
	if id < len(m.Config.Labels) && m.Config.Labels[id] != "" {
		return m.Config.Labels[id]
	}
	return fmt.Sprint(id)
}

// imageIDs are the item ids of images: the file name without its extension, "#k" appended
// to the k-th (k ≥ 2) of equal names.
func imageIDs(files []string) []string {
	seen := map[string]int{}
	out := make([]string, len(files))
	for i, file := range files {
		id := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
		if seen[id]++; seen[id] > 1 {
			id = fmt.Sprintf("%s#%d", id, seen[id])
		}
		out[i] = id
	}
	return out
}
