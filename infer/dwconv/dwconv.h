// Channel-wise (depthwise) 3-D convolution, NCDHW float32: one filter of KT×KH×KW taps per
// channel, any strides and pads, dilation 1. The kernel works on one (n, c) volume at a time:
// it copies the input into zero-padded, stride-phased sub-volumes so that every tap becomes one
// constant offset into a contiguous array, then runs one long multiply-add line per tap (the
// padding columns are computed too and dropped when the result is compacted into the output).
#ifndef ACTIONSTREAM_DWCONV_H
#define ACTIONSTREAM_DWCONV_H

#include <stddef.h>
#include <stdint.h>

enum { DW_PATH_PORTABLE = 0, DW_PATH_AVX2 = 1, DW_PATH_AVX512 = 2, DW_PATH_COUNT = 3 };
enum { DW_MAX_TAPS = 7 * 7 * 7 };
// Floats of slack after every array the SIMD lines read or write: a line is computed in whole
// blocks (at most 8 vectors of 16 floats), past its last useful element.
enum { DW_SLACK = 256 };

typedef struct {
	int64_t c, t, h, w;                // input channels and volume
	int64_t kt, kh, kw;                // kernel
	int64_t st, sh, sw;                // strides
	int64_t pt0, ph0, pw0, pt1, ph1, pw1; // pads (begin, end)
	int64_t ot, oh, ow;                // output volume
	// derived by dw_geometry
	int64_t ts, hs, ws;    // one stride phase of the padded input
	int64_t phase_stride;  // floats from one phase to the next (ts*hs*ws + slack)
	int64_t line;          // length of the computed line: (ot-1)*hs*ws + (oh-1)*ws + ow
	int64_t ntap;
} dw_geom;

// dw_geometry fills the output and derived sizes; it returns NULL or a static message.
const char* dw_geometry(dw_geom* g);
// dw_scratch_floats: the scratch one dw_channel call needs.
size_t dw_scratch_floats(const dw_geom* g);
// dw_path_supported: whether this CPU (and OS) can run the path.
int dw_path_supported(int path);
// dw_best_path: the widest supported path.
int dw_best_path(void);
const char* dw_path_name(int path);

// dw_channel computes one output volume y (ot×oh×ow) from one input volume x (t×h×w), the
// channel's ntap weights k and bias; scratch holds dw_scratch_floats(g) floats. pads_ready
// says the scratch's padding cells are zero already (its last use had the same geometry).
void dw_channel(int path, const dw_geom* g, const float* x, const float* k, float bias, float* y,
                float* scratch, int pads_ready);
// dw_channel_tls is dw_channel with a scratch buffer owned by the calling thread (grown as
// needed, freed when the thread exits); it returns 0 or -1 when memory ran out.
int dw_channel_tls(int path, const dw_geom* g, const float* x, const float* k, float bias, float* y);
// dw_range runs dw_channel_tls over the flattened (n, c) volumes [from, to) of a batch.
int dw_range(int path, const dw_geom* g, const float* x, const float* w, const float* b, float* y,
             int64_t from, int64_t to);

// The line kernels: out[i] = bias + sum_j k[j] * src[j][i] for i in [0, n), computed in whole
// blocks (reads and writes up to DW_SLACK floats past n).
void dw_line_portable(const float* const* src, const float* k, int64_t ntap, float bias, float* out, int64_t n);
void dw_line_avx2(const float* const* src, const float* k, int64_t ntap, float bias, float* out, int64_t n);
void dw_line_avx512(const float* const* src, const float* k, int64_t ntap, float bias, float* out, int64_t n);
// Row fill for the stride-2 phase split: even[j] = row[2j], odd[j] = row[2j+1] for the
// n pairs of row (row holds 2n floats).
void dw_split2_portable(const float* row, float* even, float* odd, int64_t n);
void dw_split2_avx2(const float* row, float* even, float* odd, int64_t n);

#endif
