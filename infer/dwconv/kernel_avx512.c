// AVX-512F path (16 floats per vector). Called only when dw_path_supported(DW_PATH_AVX512).
#pragma GCC target("avx512f")
#include <immintrin.h>

#include "dwconv.h"

#define VEC __m512
#define VL 16
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#define LOADU _mm512_loadu_ps
#define STOREU _mm512_storeu_ps
#define DW_LINE_NAME dw_line_avx512
#include "kernel_simd.h"
