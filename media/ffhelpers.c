// FFmpeg helpers for the decode hot path; see cffmpeg.go for why they exist.
#include <string.h>
#include "ffhelpers.h"

// as_send copies size bytes into pkt (with FFmpeg's required zero padding) and sends it with
// both of its timestamps (AV_NOPTS_VALUE where unknown), so the decoder's
// best_effort_timestamp can reorder them. A NULL data with size 0 enters draining mode.
// skip_nonref lets the decoder drop this packet's frame if no other frame references it
// (skip_frame is read per packet, and copied to frame threads when the packet is submitted).
int as_send(AVCodecContext *c, AVPacket *pkt, const uint8_t *data, int size, int64_t pts, int64_t dts, int64_t dur, int flags, int skip_nonref) {
	if (data == NULL && size == 0) {
		c->skip_frame = AVDISCARD_DEFAULT;
		return avcodec_send_packet(c, NULL);
	}
	c->skip_frame = skip_nonref ? AVDISCARD_NONREF : AVDISCARD_DEFAULT;
	av_packet_unref(pkt);
	int r = av_new_packet(pkt, size);
	if (r < 0) return r;
	memcpy(pkt->data, data, size);
	pkt->pts = pts;
	pkt->dts = dts;
	pkt->duration = dur;
	pkt->flags = flags;
	return avcodec_send_packet(c, pkt);
}



int as_receive(AVCodecContext *c, AVFrame *f, as_frame_info *info) {
	int r = avcodec_receive_frame(c, f);
	if (r < 0) return r;
	info->pts = f->pts;
	info->dts = f->pkt_dts;
	info->width = f->width;
	info->height = f->height;
	info->format = f->format;
	info->corrupt = f->decode_error_flags != 0 || (f->flags & AV_FRAME_FLAG_CORRUPT) != 0;
	return 0;
}

as_frame_info *as_info_alloc(void) { return av_mallocz(sizeof(as_frame_info)); }

// as_scale converts frame f into packed RGB24 of dw x dh at dst with the given stride, reusing
// the scaler when the geometry is unchanged.
int as_scale(as_scaler *s, AVFrame *f, uint8_t *dst, int stride, int dw, int dh) {
	s->sws = sws_getCachedContext(s->sws, f->width, f->height, f->format, dw, dh, AV_PIX_FMT_RGB24,
		SWS_BILINEAR, NULL, NULL, NULL);
	if (s->sws == NULL) return AVERROR(EINVAL);
	uint8_t *dsts[4] = {dst, NULL, NULL, NULL};
	int strides[4] = {stride, 0, 0, 0};
	int h = sws_scale(s->sws, (const uint8_t * const *)f->data, f->linesize, 0, f->height, dsts, strides);
	return h == dh ? 0 : AVERROR(EINVAL);
}

// limited_yuv reports whether swscale reads fmt as 8-bit planar limited-range YUV, which it
// converts to RGB with the BT.601 matrix (its default: the frame's colour tags are not read).
static int limited_yuv(int fmt) {
	return fmt == AV_PIX_FMT_YUV420P || fmt == AV_PIX_FMT_YUV422P || fmt == AV_PIX_FMT_YUV444P;
}

static inline uint8_t clamp8(int v) { return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v; }

// yuv_to_rgb24 is swscale's default conversion of limited-range BT.601 YUV to full-range RGB,
// in 16.16 fixed point with rounding; with half, each chroma sample is shared by two pixels of
// a row. With planes, each pixel also goes through lut (3 x 256 values, one table per channel)
// into three planes of w*h floats, as the Go side would from the RGB bytes.
static void yuv_to_rgb24(uint8_t *const pl[3], const int ls[3], int half, uint8_t *dst, int stride, int w, int h,
	float *planes, const float *lut) {
	const int cy = 76309, crv = 104597, cgu = 25675, cgv = 53279, cbu = 132201;
	const size_t plane = (size_t)w * h;
	for (int y = 0; y < h; y++) {
		const uint8_t *py = pl[0] + (ptrdiff_t)y * ls[0], *pu = pl[1] + (ptrdiff_t)y * ls[1], *pv = pl[2] + (ptrdiff_t)y * ls[2];
		uint8_t *o = dst + (ptrdiff_t)y * stride;
		for (int x = 0; x < w; x++) {
			int l = (py[x] - 16) * cy + 32768, u = pu[x >> half] - 128, v = pv[x >> half] - 128;
			o[3 * x] = clamp8((l + crv * v) >> 16);
			o[3 * x + 1] = clamp8((l - cgu * u - cgv * v) >> 16);
			o[3 * x + 2] = clamp8((l + cbu * u) >> 16);
		}
		if (planes != NULL) {
			float *r = planes + (size_t)y * w, *g = r + plane, *b = g + plane;
			for (int x = 0; x < w; x++) {
				r[x] = lut[o[3 * x]];
				g[x] = lut[256 + o[3 * x + 1]];
				b[x] = lut[512 + o[3 * x + 2]];
			}
		}
	}
}

// as_scale_rect converts the sw x sh rectangle at (sx, sy) of frame f into packed RGB24 of
// dw x dh: the source planes are offset to the rectangle, so the pixels outside it are never
// read. sx and sy are moved to the nearest whole chroma sample (even, for 4:2:0); formats whose planes cannot be offset
// by whole bytes (palette, bitstream, hardware) give AVERROR(ENOSYS) for the caller to convert
// the whole frame instead. Limited-range YUV is resampled to planar YUV with the chroma that
// swscale's RGB24 writer interpolates (every row; half width from horizontally subsampled
// sources, else full) and converted here: that writer is scalar
// C, about 2.7x the cost of the planar path (0.61 against 0.23 ms for 720x720 to 160x160 here).
//
// With out (and lut), the YUV path also writes the normalized planes (yuv_to_rgb24) and
// returns 1; other formats return 0 and leave them to the caller.
int as_scale_rect(as_scaler *s, AVFrame *f, int sx, int sy, int sw, int sh, uint8_t *dst, int stride, int dw, int dh,
	float *out, const float *lut) {
	const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(f->format);
	if (d == NULL || (d->flags & (AV_PIX_FMT_FLAG_PAL | AV_PIX_FMT_FLAG_BITSTREAM | AV_PIX_FMT_FLAG_HWACCEL)))
		return AVERROR(ENOSYS);
	sx = (sx + ((1 << d->log2_chroma_w) >> 1)) & ~((1 << d->log2_chroma_w) - 1);
	sy = (sy + ((1 << d->log2_chroma_h) >> 1)) & ~((1 << d->log2_chroma_h) - 1);
	if (sx < 0 || sy < 0 || sw <= 0 || sh <= 0 || sx + sw > f->width || sy + sh > f->height)
		return AVERROR(EINVAL);
	const uint8_t *src[4] = {NULL, NULL, NULL, NULL};
	int nplanes = av_pix_fmt_count_planes(f->format);
	for (int p = 0; p < nplanes && p < 4; p++) {
		// The plane's first component tells its byte step and whether it is subsampled.
		int c = 0;
		while (c < d->nb_components && d->comp[c].plane != p) c++;
		if (c == d->nb_components) return AVERROR(ENOSYS);
		int chroma = (c == 1 || c == 2) && !(d->flags & AV_PIX_FMT_FLAG_RGB);
		int x = chroma ? sx >> d->log2_chroma_w : sx, y = chroma ? sy >> d->log2_chroma_h : sy;
		src[p] = f->data[p] + (ptrdiff_t)y * f->linesize[p] + (ptrdiff_t)x * d->comp[c].step;
	}
	int yuv = limited_yuv(f->format) && !s->rgb_only;
	s->sws = sws_getCachedContext(s->sws, sw, sh, f->format, dw, dh, !yuv ? AV_PIX_FMT_RGB24 : d->log2_chroma_w ? AV_PIX_FMT_YUV422P : AV_PIX_FMT_YUV444P,
		SWS_BILINEAR, NULL, NULL, NULL);
	if (s->sws == NULL) return AVERROR(EINVAL);
	if (!yuv) {
		uint8_t *dsts[4] = {dst, NULL, NULL, NULL};
		int strides[4] = {stride, 0, 0, 0};
		int h = sws_scale(s->sws, src, f->linesize, 0, sh, dsts, strides);
		return h == dh ? 0 : AVERROR(EINVAL);
	}
	int half = d->log2_chroma_w > 0, ls = (dw + 63) & ~63, cls = (((dw + half) >> half) + 63) & ~63;
	size_t need = (size_t)(ls + 2 * cls) * dh;
	if (s->planes_size < need) {
		av_freep(&s->planes);
		s->planes_size = 0;
		if ((s->planes = av_malloc(need)) == NULL) return AVERROR(ENOMEM);
		s->planes_size = need;
	}
	uint8_t *pl[4] = {s->planes, s->planes + (size_t)ls * dh, s->planes + (size_t)(ls + cls) * dh, NULL};
	int lss[4] = {ls, cls, cls, 0};
	if (sws_scale(s->sws, src, f->linesize, 0, sh, pl, lss) != dh) return AVERROR(EINVAL);
	yuv_to_rgb24(pl, lss, half, dst, stride, dw, dh, out, lut);
	return out != NULL;
}

as_scaler *as_scaler_alloc(void) { return av_mallocz(sizeof(as_scaler)); }
void as_scaler_free(as_scaler *s) {
	if (s) {
		sws_freeContext(s->sws);
		av_free(s->planes);
		av_free(s);
	}
}
