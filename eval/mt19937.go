package eval

// mt19937 is the 32-bit Mersenne Twister (std::mt19937), which
// llama-perplexity seeds with 1 to choose and order tasks.
type mt19937 struct {
	mt  [624]uint32
	idx int
}

func newMT19937(seed uint32) *mt19937 {
	m := &mt19937{idx: 624}
	m.mt[0] = seed
	for i := 1; i < 624; i++ {
		m.mt[i] = 1812433253*(m.mt[i-1]^(m.mt[i-1]>>30)) + uint32(i)
	}
	return m
}

func (m *mt19937) next() uint32 {
	if m.idx >= 624 {
		for i := 0; i < 624; i++ {
			y := m.mt[i]&0x80000000 | m.mt[(i+1)%624]&0x7fffffff
			v := m.mt[(i+397)%624] ^ y>>1
			if y&1 != 0 {
				v ^= 0x9908b0df
			}
			m.mt[i] = v
		}
		m.idx = 0
	}
	y := m.mt[m.idx]
	m.idx++
	y ^= y >> 11
	y ^= y << 7 & 0x9d2c5680
	y ^= y << 15 & 0xefc60000
	y ^= y >> 18
	return y
}

// uniform draws from [0, n) as libstdc++'s (GCC ≥ 11)
// std::uniform_int_distribution<size_t>(0, n-1) does with a 32-bit
// generator: Lemire's multiply-and-reject on 64-bit products.
func (m *mt19937) uniform(n uint32) uint32 {
	p := uint64(m.next()) * uint64(n)
	if low := uint32(p); low < n {
		threshold := -n % n
		for low < threshold {
			p = uint64(m.next()) * uint64(n)
			low = uint32(p)
		}
	}
	return uint32(p >> 32)
}

// pickFloat is the index llama-perplexity's winogrande and multiple-choice
// sampling computes, int(scale*rng()*n) in float arithmetic with
// scale = 1/(1+2^32-1). Rounding can make it n (undefined behaviour in the
// C++ code); it is clamped to n-1 here.
func (m *mt19937) pickFloat(n int) int {
	const scale = float32(1.0 / 4294967296.0)
	r := float32(m.next())
	j := int(scale * r * float32(n))
	if j >= n {
		j = n - 1
	}
	return j
}
