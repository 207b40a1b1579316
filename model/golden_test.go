package model

// close32 is the parity criterion: within 1e-4 absolute or 1e-5 relative.
func close32(got float32, want float64) bool {
	d := float64(got) - want
	if d < 0 {
		d = -d
	}
	a := want
	if a < 0 {
		a = -a
	}
	return d <= 1e-4 || d <= 1e-5*a
}
