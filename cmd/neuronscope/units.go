package main

import (
	"fmt"

	"github.com/neuronscope/neuronscope/ablate"
	"github.com/neuronscope/neuronscope/decompose"
	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/probes/profile"
	"github.com/neuronscope/neuronscope/sae"
	"github.com/spf13/cobra"
)

// SNMFUnitSuffix names SNMF features as units: "blocks.L.mlp.hook_post.snmf".
const SNMFUnitSuffix = ".snmf"

// unitFlags name decompositions whose units (SNMF features, SAE latents) a command works on.
type unitFlags struct {
	features string // decompose snmf output directory
	sae      string // SAELens directory
}

func (u *unitFlags) register(cmd *cobra.Command, what string) {
	cmd.Flags().StringVar(&u.features, "features", "", what+" the SNMF features of DIR ('decompose snmf' output): a feature's activation is its non-negative coefficient with F fixed (exact NNLS)")
	cmd.Flags().StringVar(&u.sae, "sae", "", what+" the latents of the SAE in DIR (SAELens files): "+sae.LatentsHookSuffix[1:]+" at its hook")
}

func (u *unitFlags) any() bool { return u.features != "" || u.sae != "" }

// one is an error when both --features and --sae are given (a command that reads one
// decomposition's units).
func (u *unitFlags) one() error {
	if u.features != "" && u.sae != "" {
		return usagef("--features and --sae: give one of them")
	}
	return nil
}

// loadFeatures reads --features and checks its tap against m: the tap must be known, be a
// hook point of m and have d_mlp units.
func loadFeatures(dir string, m *model.Model) (*decompose.Output, hooks.Point, error) {
	o, err := decompose.Read(dir)
	if err != nil {
		return nil, hooks.Point{}, usagef("--features: %v", err)
	}
	p, err := hooks.Parse(o.Report.Tap)
	if err != nil || !p.Site.PerLayer() {
		return nil, hooks.Point{}, usagef("--features %s: the features name no hook point (tap %q); fit them with --layer/--hook", dir, o.Report.Tap)
	}
	if !m.Catalog().Has(p) {
		return nil, hooks.Point{}, usagef("--features %s: %s has no hook point %s", dir, m.Dir, p)
	}
	if w := m.Catalog().Width(p); w != o.Report.DMLP {
		return nil, hooks.Point{}, usagef("--features %s: F has d_mlp %d but %s has %d units in %s", dir, o.Report.DMLP, p, w, m.Dir)
	}
	return o, p, nil
}

// loadSAE reads --sae and resolves its hook in m (d_in must match the hook's width).
func loadSAE(dir string, m *model.Model) (*sae.SAE, hooks.Point, error) {
	s, err := sae.Load(dir)
	if err != nil {
		return nil, hooks.Point{}, usagef("--sae: %v", err)
	}
	sp, err := sae.NewSplice(s, m.Catalog(), sae.SpliceOptions{})
	if err != nil {
		return nil, hooks.Point{}, usagef("--sae: %v", err)
	}
	return s, sp.Point, nil
}

// profileUnits builds the profile.Units of --features and --sae, with a description of each
// for the settings.
func (u *unitFlags) profileUnits(m *model.Model) ([]profile.Units, []string, error) {
	var units []profile.Units
	var desc []string
	if u.features != "" {
		o, p, err := loadFeatures(u.features, m)
		if err != nil {
			return nil, nil, err
		}
		fs := o.Features()
		k := o.Report.Rank
		units = append(units, profile.Units{Point: p, Hook: p.String() + SNMFUnitSuffix, N: k,
			Encode: func(dst, x []float32) error {
				if err := fs.Coefficients(dst, x); err != nil {
					return err
				}
				return nil
			}})
		desc = append(desc, fmt.Sprintf("%s%s: %d SNMF features of %s (activation: the non-negative least-squares coefficient with F fixed)", p, SNMFUnitSuffix, k, u.features))
	}
	if u.sae != "" {
		s, p, err := loadSAE(u.sae, m)
		if err != nil {
			return nil, nil, err
		}
		units = append(units, profile.Units{Point: p, Hook: p.String() + sae.LatentsHookSuffix, N: s.DSAE,
			Encode: func(dst, x []float32) error {
				s.Encode(dst, x)
				return nil
			}})
		desc = append(desc, fmt.Sprintf("%s%s: %d latents of the %s SAE %s", p, sae.LatentsHookSuffix, s.DSAE, s.Architecture, u.sae))
	}
	return units, desc, nil
}

// featureDirection is SNMF feature j of dir as a steering direction at the features' tap
// (ablate.FeatureBasis.Direction).
func featureDirection(dir string, j int, m *model.Model) (ablate.Direction, error) {
	o, p, err := loadFeatures(dir, m)
	if err != nil {
		return ablate.Direction{}, err
	}
	if j < 0 || j >= o.Report.Rank {
		return ablate.Direction{}, usagef("--feature %d is out of range: %s has features 0..%d", j, dir, o.Report.Rank-1)
	}
	fb := ablate.FeatureBasis{F: o.F, DMLP: o.Report.DMLP, Rank: o.Report.Rank, Name: dir}
	return fb.Direction(p, j)
}

// latentDirection is latent j of the SAE in dir as a steering direction at its hook
// (ablate.LatentDirection).
func latentDirection(dir string, j int, m *model.Model) (ablate.Direction, error) {
	s, p, err := loadSAE(dir, m)
	if err != nil {
		return ablate.Direction{}, err
	}
	if j < 0 || j >= s.DSAE {
		return ablate.Direction{}, usagef("--latent %d is out of range: %s has latents 0..%d", j, dir, s.DSAE-1)
	}
	return ablate.LatentDirection(s, p, j)
}

// decompositions loads --features and --sae as the ablate.Decompositions of the units of ns:
// features at blocks.L.mlp.hook_post.snmf need --features fitted at blocks.L.mlp.hook_post,
// latents at blocks.L.mlp.hook_post.sae.hook_sae_acts_post an SAE at that hook. It returns nil
// when ns holds no units and neither flag is given.
func (u *unitFlags) decompositions(m *model.Model, ns []hooks.Neuron) (*ablate.Decompositions, error) {
	points, _ := hooks.ByPoint(ns)
	dec := &ablate.Decompositions{Features: map[hooks.Point]*ablate.FeatureBasis{}, SAEs: map[hooks.Point]*sae.SAE{}, Catalog: m.Catalog()}
	var fo *decompose.Output
	var fp, sp hooks.Point
	var s *sae.SAE
	var err error
	if u.features != "" {
		if fo, fp, err = loadFeatures(u.features, m); err != nil {
			return nil, err
		}
	}
	if u.sae != "" {
		if s, sp, err = loadSAE(u.sae, m); err != nil {
			return nil, err
		}
	}
	any := false
	for _, p := range points {
		base := hooks.At(p.Layer, p.Site.Base())
		switch p.Site {
		case hooks.MLPPostSNMF:
			if fo == nil || fp != base {
				return nil, usagef("the set's units %s need --features DIR fitted at %s", p, base)
			}
			dec.Features[p] = &ablate.FeatureBasis{F: fo.F, DMLP: fo.Report.DMLP, Rank: fo.Report.Rank, Name: u.features}
		case hooks.MLPPostSAE:
			if s == nil || sp != base {
				return nil, usagef("the set's units %s need --sae DIR with an SAE at %s", p, base)
			}
			dec.SAEs[p] = s
		default:
			continue
		}
		any = true
	}
	if !any {
		if u.any() {
			return nil, usagef("--features and --sae apply to a set whose units are features (tap mlp.hook_post.snmf) or latents (mlp.hook_post.sae.hook_sae_acts_post); this set has neurons")
		}
		return nil, nil
	}
	return dec, nil
}
