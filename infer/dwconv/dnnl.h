//go:build dnnl

// oneDNN's channel-wise convolution of the same geometry, for the comparison only (build tag
// dnnl; Debian's libdnnl-dev 2.6). oneDNN picks its own blocked layouts (format "any");
// dw_dnnl_run times either the convolution alone on data already in those layouts, or with
// the reorders from and back to NCDHW that a graph keeping NCDHW would pay.
#ifndef ACTIONSTREAM_DWCONV_DNNL_H
#define ACTIONSTREAM_DWCONV_DNNL_H

#include "dwconv.h"

typedef struct dw_dnnl dw_dnnl;

// dw_dnnl_create returns NULL with *err set (static) on failure; x, w, b (b may be NULL) are
// copied in (x: n volumes NCDHW, w: [C,1,KT,KH,KW]). block 8 or 16 asks for the nCdhw8c or
// nCdhw16c activation layout; 0 lets oneDNN choose.
dw_dnnl* dw_dnnl_create(const dw_geom* g, int64_t n, int block, const float* x, const float* w, const float* b, const char** err);
// dw_dnnl_run runs once on threads OpenMP threads; with_reorders adds NCDHW -> blocked -> NCDHW.
int dw_dnnl_run(dw_dnnl* d, int threads, int with_reorders);
// dw_dnnl_output copies the last result (NCDHW) into y.
int dw_dnnl_output(dw_dnnl* d, float* y);
// dw_dnnl_info: the implementation and the source layout oneDNN chose.
const char* dw_dnnl_impl(dw_dnnl* d);
const char* dw_dnnl_layout(dw_dnnl* d);
void dw_dnnl_destroy(dw_dnnl* d);

#endif
