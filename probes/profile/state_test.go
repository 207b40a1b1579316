package profile

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/neuronscope/neuronscope/model/report"
)

// TestSaveAsync: SaveAsync writes exactly Save's bytes, also when its buffer is reused after
// the state changed, and Load of it continues like the uninterrupted run.
func TestSaveAsync(t *testing.T) {
	s := makeSynth(10, 6, 130)
	opt := Options{TopK: 4, CalibContext: 6}
	dir := t.TempDir()
	p := New(opt)
	for _, upto := range []int{3, 7} {
		s.run(p, int(p.Batches), upto)
		a, b := filepath.Join(dir, "sync.ckpt"), filepath.Join(dir, "async.ckpt")
		if err := p.Save(a, "fp"); err != nil {
			t.Fatal(err)
		}
		wait := p.SaveAsync(b, "fp")
		if err := wait(); err != nil {
			t.Fatal(err)
		}
		da, _ := os.ReadFile(a)
		db, _ := os.ReadFile(b)
		if len(da) == 0 || !bytes.Equal(da, db) {
			t.Fatalf("after %d batches: SaveAsync wrote %d bytes, Save %d, not identical", upto, len(db), len(da))
		}
	}
	res, err := Load(filepath.Join(dir, "async.ckpt"), "fp")
	if err != nil {
		t.Fatal(err)
	}
	s.run(res, 7, 10)
	res.Finish()
	s.run(p, 7, 10)
	p.Finish()
	if !reflect.DeepEqual(p.Report(report.Provenance{}, Settings{}, nil), res.Report(report.Provenance{}, Settings{}, nil)) {
		t.Error("the run resumed from SaveAsync's checkpoint differs from the uninterrupted run")
	}
}

// TestSavePortable: the element-by-element encoding (big-endian machines) writes the same bytes
// as the raw copy used on little-endian ones.
func TestSavePortable(t *testing.T) {
	if !littleEndian {
		t.Skip("big-endian machine: only the portable path exists")
	}
	s := makeSynth(4, 6, 70)
	p := New(Options{TopK: 3, CalibContext: 6})
	s.run(p, 0, 4)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "raw.ckpt"), filepath.Join(dir, "portable.ckpt")
	if err := p.Save(a, "fp"); err != nil {
		t.Fatal(err)
	}
	littleEndian = false
	err := p.Save(b, "fp")
	littleEndian = true
	if err != nil {
		t.Fatal(err)
	}
	da, _ := os.ReadFile(a)
	db, _ := os.ReadFile(b)
	if !bytes.Equal(da, db) {
		t.Error("the portable encoding differs from the raw copy")
	}
}
