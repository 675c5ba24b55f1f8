// The line kernel, written once for a vector type; kernel_avx2.c and kernel_avx512.c include it
// with their own macros. Eight accumulators hide the multiply-add latency (4 cycles, 2 per cycle).
#define DW_NV 8

DW_TARGET void DW_LINE_NAME(const float* const* src, const float* k, int64_t ntap, float bias, float* out, int64_t n) {
	const VEC vb = SET1(bias);
	for (int64_t i = 0; i < n; i += DW_NV * VL) {
		VEC a0 = vb, a1 = vb, a2 = vb, a3 = vb, a4 = vb, a5 = vb, a6 = vb, a7 = vb;
		for (int64_t j = 0; j < ntap; j++) {
			const float* s = src[j] + i;
			const VEC w = SET1(k[j]);
			a0 = FMA(LOADU(s + 0 * VL), w, a0);
			a1 = FMA(LOADU(s + 1 * VL), w, a1);
			a2 = FMA(LOADU(s + 2 * VL), w, a2);
			a3 = FMA(LOADU(s + 3 * VL), w, a3);
			a4 = FMA(LOADU(s + 4 * VL), w, a4);
			a5 = FMA(LOADU(s + 5 * VL), w, a5);
			a6 = FMA(LOADU(s + 6 * VL), w, a6);
			a7 = FMA(LOADU(s + 7 * VL), w, a7);
		}
		float* o = out + i;
		STOREU(o + 0 * VL, a0);
		STOREU(o + 1 * VL, a1);
		STOREU(o + 2 * VL, a2);
		STOREU(o + 3 * VL, a3);
		STOREU(o + 4 * VL, a4);
		STOREU(o + 5 * VL, a5);
		STOREU(o + 6 * VL, a6);
		STOREU(o + 7 * VL, a7);
	}
}
