// Geometry, the stride-phase copy, dispatch and the portable line kernel.
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dwconv.h"

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

const char* dw_geometry(dw_geom* g) {
	if (g->c < 1 || g->t < 1 || g->h < 1 || g->w < 1) return "empty input";
	if (g->kt < 1 || g->kh < 1 || g->kw < 1 || g->kt * g->kh * g->kw > DW_MAX_TAPS) return "kernel size out of range";
	if (g->st < 1 || g->sh < 1 || g->sw < 1) return "strides must be >= 1";
	if (g->pt0 < 0 || g->ph0 < 0 || g->pw0 < 0 || g->pt1 < 0 || g->ph1 < 0 || g->pw1 < 0) return "pads must be >= 0";
	if (g->pt0 >= g->kt || g->ph0 >= g->kh || g->pw0 >= g->kw || g->pt1 >= g->kt || g->ph1 >= g->kh || g->pw1 >= g->kw)
		return "a pad is not smaller than the kernel";
	int64_t tp = g->t + g->pt0 + g->pt1, hp = g->h + g->ph0 + g->ph1, wp = g->w + g->pw0 + g->pw1;
	if (tp < g->kt || hp < g->kh || wp < g->kw) return "kernel larger than the padded input";
	g->ot = (tp - g->kt) / g->st + 1;
	g->oh = (hp - g->kh) / g->sh + 1;
	g->ow = (wp - g->kw) / g->sw + 1;
	g->ts = ceil_div(tp, g->st);
	g->hs = ceil_div(hp, g->sh);
	g->ws = ceil_div(wp, g->sw);
	g->phase_stride = g->ts * g->hs * g->ws + DW_SLACK;
	g->line = (g->ot - 1) * g->hs * g->ws + (g->oh - 1) * g->ws + g->ow;
	g->ntap = g->kt * g->kh * g->kw;
	return NULL;
}

size_t dw_scratch_floats(const dw_geom* g) {
	int64_t phases = g->st * g->sh * g->sw;
	return (size_t)(phases * g->phase_stride + g->line + DW_SLACK);
}

int dw_path_supported(int path) {
	switch (path) {
	case DW_PATH_PORTABLE:
		return 1;
#if defined(__x86_64__) || defined(__i386__)
	case DW_PATH_AVX2:
		// libgcc's check includes the OS's saving of the vector registers (XGETBV).
		return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
	case DW_PATH_AVX512:
		return __builtin_cpu_supports("avx512f");
#endif
	default:
		return 0;
	}
}

int dw_best_path(void) {
	for (int p = DW_PATH_COUNT - 1; p > 0; p--)
		if (dw_path_supported(p)) return p;
	return DW_PATH_PORTABLE;
}

const char* dw_path_name(int path) {
	switch (path) {
	case DW_PATH_PORTABLE: return "portable";
	case DW_PATH_AVX2: return "avx2";
	case DW_PATH_AVX512: return "avx512";
	default: return "unknown";
	}
}

void dw_line_portable(const float* const* src, const float* k, int64_t ntap, float bias, float* out, int64_t n) {
	enum { B = 64 };
	for (int64_t i = 0; i < n; i += B) {
		float acc[B];
		for (int v = 0; v < B; v++) acc[v] = bias;
		for (int64_t j = 0; j < ntap; j++) {
			const float* s = src[j] + i;
			const float w = k[j];
			for (int v = 0; v < B; v++) acc[v] += s[v] * w;
		}
		memcpy(out + i, acc, sizeof acc);
	}
}

void dw_split2_portable(const float* row, float* even, float* odd, int64_t n) {
	for (int64_t j = 0; j < n; j++) {
		even[j] = row[2 * j];
		odd[j] = row[2 * j + 1];
	}
}

// fill_row writes input row r into the sw phases of one phased row: phase c of the padded
// row holds padded[c + sw*j] = r[c + sw*j - pw0]. With pads_ready the padding cells already
// hold zeros (the scratch was last filled for the same geometry) and only data is written.
static void fill_row(int path, const dw_geom* g, const float* restrict r, float* restrict dst, int pads_ready) {
	const int64_t ws = g->ws, sw = g->sw, w = g->w, pw0 = g->pw0, ps = g->phase_stride;
	if (sw == 1) {
		if (!pads_ready) {
			for (int64_t j = 0; j < pw0; j++) dst[j] = 0;
			for (int64_t j = pw0 + w; j < ws; j++) dst[j] = 0;
		}
		float* restrict d = dst + pw0;
		for (int64_t j = 0; j < w; j++) d[j] = r[j];
		return;
	}
	if (!pads_ready) {
		for (int64_t q = 0; q < pw0; q++) dst[(q % sw) * ps + q / sw] = 0;
		for (int64_t q = pw0 + w; q < ws * sw; q++) dst[(q % sw) * ps + q / sw] = 0;
	}
	if (sw == 2) {
		// r[2m] lands in phase pw0%2 at m + pw0/2, r[2m+1] in phase (pw0+1)%2 at m + (pw0+1)/2.
		float* ev = dst + (pw0 % 2) * ps + pw0 / 2;
		float* od = dst + ((pw0 + 1) % 2) * ps + (pw0 + 1) / 2;
		if (path != DW_PATH_PORTABLE && dw_path_supported(DW_PATH_AVX2))
			dw_split2_avx2(r, ev, od, w / 2);
		else
			dw_split2_portable(r, ev, od, w / 2);
		if (w % 2) ev[w / 2] = r[w - 1];
		return;
	}
	for (int64_t i = 0; i < w; i++) {
		int64_t q = i + pw0;
		dst[(q % sw) * ps + q / sw] = r[i];
	}
}

static void zero_row(const dw_geom* g, float* dst) {
	for (int64_t c = 0; c < g->sw; c++) {
		float* restrict d = dst + c * g->phase_stride;
		for (int64_t j = 0; j < g->ws; j++) d[j] = 0;
	}
}

void dw_channel(int path, const dw_geom* g, const float* x, const float* k, float bias, float* y,
                float* scratch, int pads_ready) {
	const int64_t st = g->st, sh = g->sh, sw = g->sw, hs = g->hs, ws = g->ws;
	const int64_t plane = hs * ws;
	const int64_t phases = st * sh * sw;
	float* line = scratch + phases * g->phase_stride;
	// Phase (a, b, c) of the padded input holds padded[a + st*i][b + sh*j][c + sw*l].
	for (int64_t a = 0; a < st; a++) {
		for (int64_t i = 0; i < g->ts; i++) {
			int64_t tp = a + st * i - g->pt0;
			for (int64_t b = 0; b < sh; b++) {
				for (int64_t j = 0; j < hs; j++) {
					int64_t hp = b + sh * j - g->ph0;
					float* dst = scratch + ((a * sh + b) * sw) * g->phase_stride + i * plane + j * ws;
					if (tp >= 0 && tp < g->t && hp >= 0 && hp < g->h)
						fill_row(path, g, x + (tp * g->h + hp) * g->w, dst, pads_ready);
					else if (!pads_ready)
						zero_row(g, dst);
				}
			}
		}
	}
	if (!pads_ready)
		for (int64_t p = 0; p < phases; p++) {
			float* restrict d = scratch + p * g->phase_stride + g->ts * plane;
			for (int64_t j = 0; j < DW_SLACK; j++) d[j] = 0;
		}
	// Each tap is one offset into one phase.
	const float* src[DW_MAX_TAPS];
	int64_t j = 0;
	for (int64_t dt = 0; dt < g->kt; dt++)
		for (int64_t dh = 0; dh < g->kh; dh++)
			for (int64_t dw = 0; dw < g->kw; dw++, j++) {
				int64_t phase = ((dt % st) * sh + dh % sh) * sw + dw % sw;
				src[j] = scratch + phase * g->phase_stride + (dt / st) * plane + (dh / sh) * ws + dw / sw;
			}
	switch (path) {
	case DW_PATH_AVX512: dw_line_avx512(src, k, g->ntap, bias, line, g->line); break;
	case DW_PATH_AVX2: dw_line_avx2(src, k, g->ntap, bias, line, g->line); break;
	default: dw_line_portable(src, k, g->ntap, bias, line, g->line); break;
	}
	const int64_t ow = g->ow;
	for (int64_t t = 0; t < g->ot; t++)
		for (int64_t h = 0; h < g->oh; h++) {
			float* restrict d = y + (t * g->oh + h) * ow;
			const float* restrict s = line + t * plane + h * ws;
			for (int64_t q = 0; q < ow; q++) d[q] = s[q];
		}
}

// Per-thread scratch: ORT's pool threads live as long as the session's pool; the key's
// destructor frees the buffer when a thread exits.
typedef struct {
	float* buf;
	size_t cap;
	dw_geom last; // the geometry whose padding cells buf holds zeros for
	int ready;
} dw_tls;

static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

static void tls_free(void* p) {
	dw_tls* s = p;
	free(s->buf);
	free(s);
}

static void tls_init(void) { pthread_key_create(&tls_key, tls_free); }

static dw_tls* tls_scratch(size_t n) {
	pthread_once(&tls_once, tls_init);
	dw_tls* s = pthread_getspecific(tls_key);
	if (s == NULL) {
		s = calloc(1, sizeof *s);
		if (s == NULL) return NULL;
		if (pthread_setspecific(tls_key, s) != 0) {
			free(s);
			return NULL;
		}
	}
	if (s->cap < n) {
		free(s->buf);
		s->cap = 0;
		s->ready = 0;
		s->buf = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
		if (s->buf == NULL) return NULL;
		s->cap = n;
	}
	return s;
}

int dw_channel_tls(int path, const dw_geom* g, const float* x, const float* k, float bias, float* y) {
	dw_tls* s = tls_scratch(dw_scratch_floats(g));
	if (s == NULL) return -1;
	int ready = s->ready && memcmp(&s->last, g, sizeof *g) == 0;
	dw_channel(path, g, x, k, bias, y, s->buf, ready);
	s->last = *g;
	s->ready = 1;
	return 0;
}

int dw_range(int path, const dw_geom* g, const float* x, const float* w, const float* b, float* y,
             int64_t from, int64_t to) {
	const int64_t in = g->t * g->h * g->w, out = g->ot * g->oh * g->ow;
	for (int64_t v = from; v < to; v++) {
		int64_t c = v % g->c;
		if (dw_channel_tls(path, g, x + v * in, w + c * g->ntap, b ? b[c] : 0.0f, y + v * out) != 0) return -1;
	}
	return 0;
}
