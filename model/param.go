package model

// Param is one weight tensor exactly as the checkpoint stores it (HF name, HF shape, HF
// layout), converted to float32. Row i of an MLP weight is HF's neuron i: nothing is renamed,
// permuted or fused at load.
type Param struct {
	Name  string
	Shape []int
	Data  []float32
	// InOut marks GPT-2's Conv1D layout [in, out]; otherwise 2-D weights are nn.Linear [out, in].
	InOut bool
}

// In is the input width of a 2-D weight.
func (p *Param) In() int {
	if p.InOut {
		return p.Shape[0]
	}
	return p.Shape[1]
}

// Out is the output width of a 2-D weight.
func (p *Param) Out() int {
	if p.InOut {
		return p.Shape[1]
	}
	return p.Shape[0]
}

// Row returns row i of a 2-D weight as stored.
func (p *Param) Row(i int) []float32 {
	c := p.Shape[len(p.Shape)-1]
	return p.Data[i*c : (i+1)*c]
}

// data returns p.Data, or nil for a nil Param (an absent optional bias).
func (p *Param) data() []float32 {
	if p == nil {
		return nil
	}
	return p.Data
}
