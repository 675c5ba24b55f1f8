// AVX2 + FMA path (8 floats per vector). Only these functions are compiled for those
// instructions; they are called only when dw_path_supported(DW_PATH_AVX2). Elsewhere than
// x86 they fall back to the portable code.
#include "dwconv.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define DW_TARGET __attribute__((target("avx2,fma")))

#define VEC __m256
#define VL 8
#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
#define LOADU _mm256_loadu_ps
#define STOREU _mm256_storeu_ps
#define DW_LINE_NAME dw_line_avx2
#include "kernel_simd.h"

DW_TARGET void dw_split2_avx2(const float* row, float* even, float* odd, int64_t n) {
	int64_t j = 0;
	for (; j + 8 <= n; j += 8) {
		__m256 lo = _mm256_loadu_ps(row + 2 * j);     // r0..r7
		__m256 hi = _mm256_loadu_ps(row + 2 * j + 8); // r8..r15
		// Within each 128-bit lane: evens and odds of lo and hi, then put the lanes in order.
		__m256 ev = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
		__m256 od = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1));
		ev = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(ev), _MM_SHUFFLE(3, 1, 2, 0)));
		od = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(od), _MM_SHUFFLE(3, 1, 2, 0)));
		_mm256_storeu_ps(even + j, ev);
		_mm256_storeu_ps(odd + j, od);
	}
	for (; j < n; j++) {
		even[j] = row[2 * j];
		odd[j] = row[2 * j + 1];
	}
}

#else
void dw_line_avx2(const float* const* src, const float* k, int64_t ntap, float bias, float* out, int64_t n) {
	dw_line_portable(src, k, ntap, bias, out, n);
}
void dw_split2_avx2(const float* row, float* even, float* odd, int64_t n) { dw_split2_portable(row, even, odd, n); }
#endif
