package hooks

import (
	"slices"
	"testing"
)

// TestDetachRows: Detach with rows lists them per point (merged over options); without rows,
// or merged with an all-rows Detach, every row (nil); a point never named is not detached;
// negative rows and unknown names are errors.
func TestDetachRows(t *testing.T) {
	cat := testCatalog()
	c, err := NewCall(cat, Detach("blocks.0.mlp.hook_post", 3, 5), DetachPoint(At(0, MLPPost), 9), Detach("blocks.1.mlp.hook_post"),
		Detach("blocks.1.mlp.hook_post", 2))
	if err != nil {
		t.Fatal(err)
	}
	if rows, ok := c.Detached(At(0, MLPPost)); !ok || !slices.Equal(rows, []int{3, 5, 9}) {
		t.Errorf("layer 0: rows %v %v, want [3 5 9]", rows, ok)
	}
	if rows, ok := c.Detached(At(1, MLPPost)); !ok || rows != nil {
		t.Errorf("layer 1: rows %v %v, want every row (nil)", rows, ok)
	}
	if _, ok := c.Detached(At(0, MLPPre)); ok {
		t.Error("a point never named is detached")
	}
	if len(c.DetachedPoints()) != 2 || c.Wants(At(0, MLPPost)) {
		t.Errorf("detached points %v; Wants %v (detaching is no forward action)", c.DetachedPoints(), c.Wants(At(0, MLPPost)))
	}
	for _, bad := range []Option{Detach("blocks.0.mlp.hook_post", -1), Detach("blocks.0.mlp.nope")} {
		if _, err := NewCall(cat, bad); err == nil {
			t.Error("a bad Detach was accepted")
		}
	}
}
