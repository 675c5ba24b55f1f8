// ONNX Runtime glue: the OrtCustomOp table, attribute reading, and Compute, which splits the
// batch's (n, c) volumes over the session's intra-op thread pool.
#define _GNU_SOURCE
#include "customop.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dwconv.h"
#include "onnxruntime_c_api.h"

struct dw_registration {
	OrtCustomOp op; // first: ORT's callbacks get &op and cast back
	const OrtApi* api;
	OrtCustomOpDomain* domain;
	int path;
};

typedef struct {
	const OrtApi* api;
	int path;
	int64_t strides[3];
	int64_t pads[6];
} dw_kernel;

static char* dup_error(const char* prefix, const char* msg) {
	size_t n = strlen(prefix) + strlen(msg) + 3;
	char* s = malloc(n);
	if (s) snprintf(s, n, "%s: %s", prefix, msg);
	return s;
}

void dw_free_error(char* err) { free(err); }

static const char* ORT_API_CALL op_name(const OrtCustomOp* op) { (void)op; return DW_OP; }
static const char* ORT_API_CALL op_provider(const OrtCustomOp* op) { (void)op; return NULL; } // CPU
static ONNXTensorElementDataType ORT_API_CALL op_type(const OrtCustomOp* op, size_t i) {
	(void)op, (void)i;
	return ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
}
static size_t ORT_API_CALL op_inputs(const OrtCustomOp* op) { (void)op; return 3; }
static size_t ORT_API_CALL op_outputs(const OrtCustomOp* op) { (void)op; return 1; }
static OrtCustomOpInputOutputCharacteristic ORT_API_CALL op_input_kind(const OrtCustomOp* op, size_t i) {
	(void)op;
	return i == 2 ? INPUT_OUTPUT_OPTIONAL : INPUT_OUTPUT_REQUIRED;
}
static OrtCustomOpInputOutputCharacteristic ORT_API_CALL op_output_kind(const OrtCustomOp* op, size_t i) {
	(void)op, (void)i;
	return INPUT_OUTPUT_REQUIRED;
}
static OrtMemType ORT_API_CALL op_mem(const OrtCustomOp* op, size_t i) { (void)op, (void)i; return OrtMemTypeDefault; }
static int ORT_API_CALL op_arity(const OrtCustomOp* op) { (void)op; return 1; }
static int ORT_API_CALL op_homogeneous(const OrtCustomOp* op) { (void)op; return 0; }
static int ORT_API_CALL op_start(const OrtCustomOp* op) { (void)op; return 1; }
static int ORT_API_CALL op_end(const OrtCustomOp* op) { (void)op; return INT_MAX; }
static size_t ORT_API_CALL op_no_map(int** in, int** out) { *in = NULL, *out = NULL; return 0; }
static void ORT_API_CALL op_release_map(int* in, int* out) { (void)in, (void)out; }

// read_ints reads an int64 array attribute of exactly n values; absent leaves def.
static OrtStatusPtr read_ints(const OrtApi* api, const OrtKernelInfo* info, const char* name, int64_t* def, size_t n) {
	size_t size = 0;
	OrtStatusPtr st = api->KernelInfoGetAttributeArray_int64(info, name, NULL, &size);
	if (st != NULL) { // absent
		api->ReleaseStatus(st);
		return NULL;
	}
	if (size != n) {
		char msg[128];
		snprintf(msg, sizeof msg, DW_OP ": attribute %s has %zu values, want %zu", name, size, n);
		return api->CreateStatus(ORT_INVALID_ARGUMENT, msg);
	}
	return api->KernelInfoGetAttributeArray_int64(info, name, def, &size);
}

static OrtStatusPtr ORT_API_CALL op_create(const OrtCustomOp* op, const OrtApi* api, const OrtKernelInfo* info, void** out) {
	const dw_registration* r = (const dw_registration*)op;
	dw_kernel* k = calloc(1, sizeof *k);
	if (k == NULL) return api->CreateStatus(ORT_FAIL, DW_OP ": out of memory");
	k->api = api;
	k->path = r->path;
	for (int i = 0; i < 3; i++) k->strides[i] = 1;
	OrtStatusPtr st = read_ints(api, info, "strides", k->strides, 3);
	if (st == NULL) st = read_ints(api, info, "pads", k->pads, 6);
	if (st != NULL) {
		free(k);
		return st;
	}
	*out = k;
	return NULL;
}

static void ORT_API_CALL op_destroy(void* k) { free(k); }

// shape reads a value's dims into d (at most 5); returns the rank or -1.
static int shape(const OrtApi* api, const OrtValue* v, int64_t* d) {
	OrtTensorTypeAndShapeInfo* info = NULL;
	OrtStatusPtr st = api->GetTensorTypeAndShape(v, &info);
	if (st != NULL) {
		api->ReleaseStatus(st);
		return -1;
	}
	size_t n = 0;
	int rank = -1;
	if ((st = api->GetDimensionsCount(info, &n)) == NULL && n <= 5 && (st = api->GetDimensions(info, d, n)) == NULL) rank = (int)n;
	if (st != NULL) api->ReleaseStatus(st);
	api->ReleaseTensorTypeAndShapeInfo(info);
	return rank;
}

typedef struct {
	int path;
	const dw_geom* g;
	const float *x, *w, *b;
	float* y;
	int failed;
} dw_job;

static void run_volume(void* p, size_t v) {
	dw_job* j = p;
	if (dw_range(j->path, j->g, j->x, j->w, j->b, j->y, (int64_t)v, (int64_t)v + 1) != 0) j->failed = 1;
}

static OrtStatusPtr invalid(const OrtApi* api, const char* msg) {
	char buf[256];
	snprintf(buf, sizeof buf, DW_OP ": %s", msg);
	return api->CreateStatus(ORT_INVALID_ARGUMENT, buf);
}

static OrtStatusPtr ORT_API_CALL op_compute(void* kp, OrtKernelContext* ctx) {
	dw_kernel* k = kp;
	const OrtApi* api = k->api;
	const OrtValue *xv = NULL, *wv = NULL, *bv = NULL;
	size_t nin = 0;
	OrtStatusPtr st;
	if ((st = api->KernelContext_GetInputCount(ctx, &nin)) != NULL) return st;
	if ((st = api->KernelContext_GetInput(ctx, 0, &xv)) != NULL) return st;
	if ((st = api->KernelContext_GetInput(ctx, 1, &wv)) != NULL) return st;
	if (nin > 2 && (st = api->KernelContext_GetInput(ctx, 2, &bv)) != NULL) return st;
	int64_t xd[5], wd[5], bd[5];
	if (xv == NULL || wv == NULL || shape(api, xv, xd) != 5) return invalid(api, "X must be 5-D [N,C,T,H,W]");
	if (shape(api, wv, wd) != 5 || wd[0] != xd[1] || wd[1] != 1)
		return invalid(api, "W must be [C,1,KT,KH,KW] with C the channels of X (one filter per channel)");
	if (bv != NULL && (shape(api, bv, bd) != 1 || bd[0] != xd[1])) return invalid(api, "B must be [C]");
	dw_geom g = {.c = xd[1], .t = xd[2], .h = xd[3], .w = xd[4], .kt = wd[2], .kh = wd[3], .kw = wd[4],
	             .st = k->strides[0], .sh = k->strides[1], .sw = k->strides[2],
	             .pt0 = k->pads[0], .ph0 = k->pads[1], .pw0 = k->pads[2], .pt1 = k->pads[3], .ph1 = k->pads[4], .pw1 = k->pads[5]};
	const char* bad = dw_geometry(&g);
	if (bad != NULL) return invalid(api, bad);
	int64_t yd[5] = {xd[0], xd[1], g.ot, g.oh, g.ow};
	OrtValue* yv = NULL;
	if ((st = api->KernelContext_GetOutput(ctx, 0, yd, 5, &yv)) != NULL) return st;
	void *x, *w, *b = NULL, *y;
	if ((st = api->GetTensorMutableData((OrtValue*)xv, &x)) != NULL) return st;
	if ((st = api->GetTensorMutableData((OrtValue*)wv, &w)) != NULL) return st;
	if (bv != NULL && (st = api->GetTensorMutableData((OrtValue*)bv, &b)) != NULL) return st;
	if ((st = api->GetTensorMutableData(yv, &y)) != NULL) return st;
	if (xd[0] == 0) return NULL;
	dw_job job = {.path = k->path, .g = &g, .x = x, .w = w, .b = b, .y = y};
	size_t total = (size_t)(xd[0] * xd[1]);
	if ((st = api->KernelContext_ParallelFor(ctx, run_volume, total, 0, &job)) != NULL) return st;
	if (job.failed) return api->CreateStatus(ORT_FAIL, DW_OP ": out of memory for scratch");
	return NULL;
}

dw_registration* dw_register(void* so, const char* lib, int path, char** err) {
	*err = NULL;
	if (!dw_path_supported(path)) {
		*err = dup_error(DW_OP, "the kernel path is not supported by this CPU");
		return NULL;
	}
	// The library is already loaded (onnxruntime_go opened it); NOLOAD only finds it.
	void* h = dlopen(lib, RTLD_LAZY | RTLD_NOLOAD);
	if (h == NULL) {
		*err = dup_error("onnx runtime library not loaded", lib);
		return NULL;
	}
	const OrtApiBase* (*get_base)(void) = (const OrtApiBase* (*)(void))dlsym(h, "OrtGetApiBase");
	const OrtApi* api = get_base ? get_base()->GetApi(ORT_API_VERSION) : NULL;
	dlclose(h); // onnxruntime_go's own handle keeps it loaded
	if (api == NULL) {
		*err = dup_error("onnx runtime library has no C API of this version", lib);
		return NULL;
	}
	dw_registration* r = calloc(1, sizeof *r);
	if (r == NULL) {
		*err = dup_error(DW_OP, "out of memory");
		return NULL;
	}
	r->api = api;
	r->path = path;
	OrtCustomOp* op = &r->op;
	op->version = ORT_API_VERSION;
	op->GetName = op_name;
	op->GetExecutionProviderType = op_provider;
	op->GetInputType = op_type;
	op->GetInputTypeCount = op_inputs;
	op->GetOutputType = op_type;
	op->GetOutputTypeCount = op_outputs;
	op->KernelDestroy = op_destroy;
	op->GetInputCharacteristic = op_input_kind;
	op->GetOutputCharacteristic = op_output_kind;
	op->GetInputMemoryType = op_mem;
	op->GetVariadicInputMinArity = op_arity;
	op->GetVariadicInputHomogeneity = op_homogeneous;
	op->GetVariadicOutputMinArity = op_arity;
	op->GetVariadicOutputHomogeneity = op_homogeneous;
	op->CreateKernelV2 = op_create;
	op->KernelComputeV2 = op_compute;
	op->GetStartVersion = op_start;
	op->GetEndVersion = op_end;
	op->GetMayInplace = op_no_map;
	op->ReleaseMayInplace = op_release_map;
	op->GetAliasMap = op_no_map;
	op->ReleaseAliasMap = op_release_map;
	OrtStatusPtr st = api->CreateCustomOpDomain(DW_DOMAIN, &r->domain);
	if (st == NULL) st = api->CustomOpDomain_Add(r->domain, op);
	if (st == NULL) st = api->AddCustomOpDomain((OrtSessionOptions*)so, r->domain);
	if (st != NULL) {
		*err = dup_error("register " DW_OP, api->GetErrorMessage(st));
		api->ReleaseStatus(st);
		dw_release(r);
		return NULL;
	}
	return r;
}

void dw_release(dw_registration* r) {
	if (r == NULL) return;
	if (r->domain != NULL) r->api->ReleaseCustomOpDomain(r->domain);
	free(r);
}
