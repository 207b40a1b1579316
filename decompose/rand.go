package decompose

// mt19937 is the 32-bit Mersenne Twister (Matsumoto & Nishimura 1998), the engine behind
// PyTorch's CPU generator. Seeded the same way as torch.manual_seed (the seed truncated to 32
// bits, then the standard init_genrand recurrence), its stream reproduces torch's CPU draws:
// torch.rand of a float32 tensor takes one 32-bit output per element and keeps its low 24 bits,
// u = (x & 0xFFFFFF)·2⁻²⁴ (checked against torch 1.13 for tensors up to 8192×100).
type mt19937 struct {
	state [624]uint32
	next  int
}

func newMT19937(seed uint64) *mt19937 {
	m := &mt19937{next: 624}
	m.state[0] = uint32(seed)
	for i := 1; i < 624; i++ {
		prev := m.state[i-1]
		m.state[i] = 1812433253*(prev^(prev>>30)) + uint32(i)
	}
	return m
}

// refill regenerates the 624 words of state (the "twist").
func (m *mt19937) refill() {
	const upper, lower, matrixA = 0x80000000, 0x7fffffff, 0x9908b0df
	for i := 0; i < 624; i++ {
		y := m.state[i]&upper | m.state[(i+1)%624]&lower
		v := m.state[(i+397)%624] ^ y>>1
		if y&1 != 0 {
			v ^= matrixA
		}
		m.state[i] = v
	}
	m.next = 0
}

// uint32 returns the next tempered output.
func (m *mt19937) uint32() uint32 {
	if m.next >= 624 {
		m.refill()
	}
	y := m.state[m.next]
	m.next++
	y ^= y >> 11
	y ^= y << 7 & 0x9d2c5680
	y ^= y << 15 & 0xefc60000
	y ^= y >> 18
	return y
}

// float32 returns a uniform draw in [0, 1) exactly as torch.rand does for float32 on the CPU.
func (m *mt19937) float32() float32 {
	return float32(m.uint32()&(1<<24-1)) * (1.0 / (1 << 24))
}

// intn returns a draw in [0, n) for n ≥ 1 (rejection sampling, no modulo bias).
func (m *mt19937) intn(n int) int {
	if n <= 1 {
		return 0
	}
	if n <= 1<<32 {
		lim := uint64(1<<32) - uint64(1<<32)%uint64(n)
		for {
			if x := uint64(m.uint32()); x < lim {
				return int(x % uint64(n))
			}
		}
	}
	for {
		x := uint64(m.uint32())<<32 | uint64(m.uint32())
		if lim := ^uint64(0) - ^uint64(0)%uint64(n); x < lim {
			return int(x % uint64(n))
		}
	}
}

// perm returns a uniformly random permutation of [0, n) (Fisher–Yates).
func (m *mt19937) perm(n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := m.intn(i + 1)
		p[i], p[j] = p[j], p[i]
	}
	return p
}
