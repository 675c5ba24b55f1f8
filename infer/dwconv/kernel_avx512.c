// AVX-512F path (16 floats per vector). Called only when dw_path_supported(DW_PATH_AVX512);
// elsewhere than x86 it falls back to the portable code.
#include "dwconv.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define DW_TARGET __attribute__((target("avx512f")))

#define VEC __m512
#define VL 16
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#define LOADU _mm512_loadu_ps
#define STOREU _mm512_storeu_ps
#define DW_LINE_NAME dw_line_avx512
#include "kernel_simd.h"

#else
void dw_line_avx512(const float* const* src, const float* k, int64_t ntap, float bias, float* out, int64_t n) {
	dw_line_portable(src, k, ntap, bias, out, n);
}
#endif
