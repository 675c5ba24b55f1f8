//go:build dnnl

#include "dnnl.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>

struct dw_dnnl {
	dnnl_engine_t engine;
	dnnl_stream_t stream;
	dnnl_primitive_t conv, to_blocked, to_plain; // to_* are NULL when the layouts agree
	dnnl_memory_t user_src, user_dst, src, wei, bias, dst, scratch;
	size_t dst_bytes;
	char* impl;
	char layout[64];
};

#define CHECK(x)                                   \
	do {                                           \
		if ((x) != dnnl_success) {                 \
			*err = "oneDNN: " #x " failed";        \
			dw_dnnl_destroy(d);                    \
			return NULL;                           \
		}                                          \
	} while (0)

// describe names a 5-D activation layout in oneDNN's tag spelling (ncdhw, ndhwc, nCdhw16c).
static void describe(char* s, size_t n, const dnnl_memory_desc_t* md) {
	const dnnl_blocking_desc_t* b = &md->format_desc.blocking;
	if (md->format_kind != dnnl_blocked)
		snprintf(s, n, "not blocked");
	else if (b->inner_nblks == 0)
		snprintf(s, n, b->strides[1] == 1 ? "ndhwc" : "ncdhw");
	else if (b->inner_nblks == 1 && b->inner_idxs[0] == 1)
		snprintf(s, n, "nCdhw%ldc", (long)b->inner_blks[0]);
	else
		snprintf(s, n, "blocked (%d inner blocks)", b->inner_nblks);
}

static int copy_in(dnnl_memory_t m, const void* p, size_t bytes) {
	void* h = NULL;
	if (dnnl_memory_get_data_handle(m, &h) != dnnl_success || h == NULL) return -1;
	memcpy(h, p, bytes);
	return 0;
}

static int run(dnnl_primitive_t p, dnnl_stream_t s, int n, const dnnl_exec_arg_t* args) {
	return dnnl_primitive_execute(p, s, n, args) == dnnl_success ? 0 : -1;
}

dw_dnnl* dw_dnnl_create(const dw_geom* g, int64_t n, int block, const float* x, const float* w, const float* b, const char** err) {
	dw_dnnl* d = calloc(1, sizeof *d);
	if (d == NULL) {
		*err = "out of memory";
		return NULL;
	}
	dnnl_dims_t sd = {n, g->c, g->t, g->h, g->w}, dd = {n, g->c, g->ot, g->oh, g->ow};
	dnnl_dims_t wd = {g->c, 1, 1, g->kt, g->kh, g->kw}, bd = {g->c};
	dnnl_dims_t strides = {g->st, g->sh, g->sw}, pl = {g->pt0, g->ph0, g->pw0}, pr = {g->pt1, g->ph1, g->pw1};
	dnnl_memory_desc_t plain_src, plain_dst, plain_wei, any_src, any_dst, any_wei, bias_md;
	CHECK(dnnl_engine_create(&d->engine, dnnl_cpu, 0));
	CHECK(dnnl_stream_create(&d->stream, d->engine, dnnl_stream_default_flags));
	CHECK(dnnl_memory_desc_init_by_tag(&plain_src, 5, sd, dnnl_f32, dnnl_ncdhw));
	CHECK(dnnl_memory_desc_init_by_tag(&plain_dst, 5, dd, dnnl_f32, dnnl_ncdhw));
	CHECK(dnnl_memory_desc_init_by_tag(&plain_wei, 6, wd, dnnl_f32, dnnl_goidhw));
	dnnl_format_tag_t tag = block == 16 ? dnnl_nCdhw16c : block == 8 ? dnnl_nCdhw8c : dnnl_format_tag_any;
	CHECK(dnnl_memory_desc_init_by_tag(&any_src, 5, sd, dnnl_f32, tag));
	CHECK(dnnl_memory_desc_init_by_tag(&any_dst, 5, dd, dnnl_f32, tag));
	CHECK(dnnl_memory_desc_init_by_tag(&any_wei, 6, wd, dnnl_f32, dnnl_format_tag_any));
	CHECK(dnnl_memory_desc_init_by_tag(&bias_md, 1, bd, dnnl_f32, dnnl_x));
	dnnl_convolution_desc_t cd;
	CHECK(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct, &any_src, &any_wei,
	                                         b ? &bias_md : NULL, &any_dst, strides, pl, pr));
	// A scratchpad of our own: oneDNN's default one belongs to the thread that created the
	// primitive, and Go may run the next call on another thread.
	dnnl_primitive_attr_t attr = NULL;
	CHECK(dnnl_primitive_attr_create(&attr));
	CHECK(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user));
	dnnl_primitive_desc_t pd = NULL;
	dnnl_status_t pst = dnnl_primitive_desc_create(&pd, &cd, attr, d->engine, NULL);
	dnnl_primitive_attr_destroy(attr);
	CHECK(pst);
	const dnnl_memory_desc_t* src_md = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
	const dnnl_memory_desc_t* wei_md = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
	const dnnl_memory_desc_t* dst_md = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
	const char* impl = NULL;
	dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
	d->impl = strdup(impl ? impl : "?"); // impl points into pd
	describe(d->layout, sizeof d->layout, src_md);
	d->dst_bytes = (size_t)(n * g->c * g->ot * g->oh * g->ow) * sizeof(float);
	const dnnl_memory_desc_t* scratch_md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
	int ok = dnnl_primitive_create(&d->conv, pd) == dnnl_success &&
	         dnnl_memory_create(&d->scratch, scratch_md, d->engine, DNNL_MEMORY_ALLOCATE) == dnnl_success &&
	         dnnl_memory_create(&d->src, src_md, d->engine, DNNL_MEMORY_ALLOCATE) == dnnl_success &&
	         dnnl_memory_create(&d->wei, wei_md, d->engine, DNNL_MEMORY_ALLOCATE) == dnnl_success &&
	         dnnl_memory_create(&d->dst, dst_md, d->engine, DNNL_MEMORY_ALLOCATE) == dnnl_success &&
	         dnnl_memory_create(&d->user_src, &plain_src, d->engine, DNNL_MEMORY_ALLOCATE) == dnnl_success &&
	         dnnl_memory_create(&d->user_dst, &plain_dst, d->engine, DNNL_MEMORY_ALLOCATE) == dnnl_success;
	// The reorders, and the weights put into oneDNN's layout once.
	dnnl_primitive_desc_t rpd = NULL;
	if (ok && !dnnl_memory_desc_equal(src_md, &plain_src))
		ok = dnnl_reorder_primitive_desc_create(&rpd, &plain_src, d->engine, src_md, d->engine, NULL) == dnnl_success &&
		     dnnl_primitive_create(&d->to_blocked, rpd) == dnnl_success;
	if (rpd) dnnl_primitive_desc_destroy(rpd), rpd = NULL;
	if (ok && !dnnl_memory_desc_equal(dst_md, &plain_dst))
		ok = dnnl_reorder_primitive_desc_create(&rpd, dst_md, d->engine, &plain_dst, d->engine, NULL) == dnnl_success &&
		     dnnl_primitive_create(&d->to_plain, rpd) == dnnl_success;
	if (rpd) dnnl_primitive_desc_destroy(rpd), rpd = NULL;
	dnnl_memory_t user_wei = NULL;
	dnnl_primitive_t wr = NULL;
	if (ok) ok = dnnl_memory_create(&user_wei, &plain_wei, d->engine, DNNL_MEMORY_ALLOCATE) == dnnl_success &&
	             copy_in(user_wei, w, (size_t)(g->c * g->ntap) * sizeof(float)) == 0;
	if (ok && !dnnl_memory_desc_equal(wei_md, &plain_wei)) {
		ok = dnnl_reorder_primitive_desc_create(&rpd, &plain_wei, d->engine, wei_md, d->engine, NULL) == dnnl_success &&
		     dnnl_primitive_create(&wr, rpd) == dnnl_success;
		dnnl_exec_arg_t a[] = {{DNNL_ARG_FROM, user_wei}, {DNNL_ARG_TO, d->wei}};
		if (ok) ok = run(wr, d->stream, 2, a) == 0 && dnnl_stream_wait(d->stream) == dnnl_success;
	} else if (ok) {
		ok = copy_in(d->wei, w, (size_t)(g->c * g->ntap) * sizeof(float)) == 0;
	}
	if (rpd) dnnl_primitive_desc_destroy(rpd);
	if (wr) dnnl_primitive_destroy(wr);
	if (user_wei) dnnl_memory_destroy(user_wei);
	if (ok && b) ok = dnnl_memory_create(&d->bias, &bias_md, d->engine, DNNL_MEMORY_ALLOCATE) == dnnl_success &&
	                  copy_in(d->bias, b, (size_t)g->c * sizeof(float)) == 0;
	if (ok) ok = copy_in(d->user_src, x, (size_t)(n * g->c * g->t * g->h * g->w) * sizeof(float)) == 0;
	if (ok && d->to_blocked) {
		dnnl_exec_arg_t a[] = {{DNNL_ARG_FROM, d->user_src}, {DNNL_ARG_TO, d->src}};
		ok = run(d->to_blocked, d->stream, 2, a) == 0 && dnnl_stream_wait(d->stream) == dnnl_success;
	} else if (ok) {
		ok = copy_in(d->src, x, (size_t)(n * g->c * g->t * g->h * g->w) * sizeof(float)) == 0;
	}
	dnnl_primitive_desc_destroy(pd);
	if (!ok) {
		*err = "oneDNN: setting up the convolution failed";
		dw_dnnl_destroy(d);
		return NULL;
	}
	return d;
}

int dw_dnnl_run(dw_dnnl* d, int threads, int with_reorders) {
	omp_set_num_threads(threads); // per calling thread in OpenMP
	if (with_reorders && d->to_blocked) {
		dnnl_exec_arg_t a[] = {{DNNL_ARG_FROM, d->user_src}, {DNNL_ARG_TO, d->src}};
		if (run(d->to_blocked, d->stream, 2, a)) return -1;
	}
	dnnl_exec_arg_t a[] = {{DNNL_ARG_SRC, d->src}, {DNNL_ARG_WEIGHTS, d->wei}, {DNNL_ARG_DST, d->dst},
	                       {DNNL_ARG_SCRATCHPAD, d->scratch}, {DNNL_ARG_BIAS, d->bias}};
	if (run(d->conv, d->stream, d->bias ? 5 : 4, a)) return -1;
	if (with_reorders && d->to_plain) {
		dnnl_exec_arg_t r[] = {{DNNL_ARG_FROM, d->dst}, {DNNL_ARG_TO, d->user_dst}};
		if (run(d->to_plain, d->stream, 2, r)) return -1;
	}
	return dnnl_stream_wait(d->stream) == dnnl_success ? 0 : -1;
}

int dw_dnnl_output(dw_dnnl* d, float* y) {
	dnnl_memory_t from = d->dst;
	if (d->to_plain) {
		dnnl_exec_arg_t r[] = {{DNNL_ARG_FROM, d->dst}, {DNNL_ARG_TO, d->user_dst}};
		if (run(d->to_plain, d->stream, 2, r) || dnnl_stream_wait(d->stream) != dnnl_success) return -1;
		from = d->user_dst;
	}
	void* h = NULL;
	if (dnnl_memory_get_data_handle(from, &h) != dnnl_success) return -1;
	memcpy(y, h, d->dst_bytes);
	return 0;
}

const char* dw_dnnl_impl(dw_dnnl* d) { return d->impl; }
const char* dw_dnnl_layout(dw_dnnl* d) { return d->layout; }

void dw_dnnl_destroy(dw_dnnl* d) {
	if (d == NULL) return;
	dnnl_primitive_t ps[] = {d->conv, d->to_blocked, d->to_plain};
	for (size_t i = 0; i < 3; i++)
		if (ps[i]) dnnl_primitive_destroy(ps[i]);
	dnnl_memory_t ms[] = {d->user_src, d->user_dst, d->src, d->wei, d->bias, d->dst, d->scratch};
	for (size_t i = 0; i < 7; i++)
		if (ms[i]) dnnl_memory_destroy(ms[i]);
	if (d->stream) dnnl_stream_destroy(d->stream);
	if (d->engine) dnnl_engine_destroy(d->engine);
	free(d->impl);
	free(d);
}
