// FFmpeg helpers for the decode hot path; see cffmpeg.go for why they exist.
#include <string.h>
#include "ffhelpers.h"

// as_send copies size bytes into pkt (with FFmpeg's required zero padding) and sends it with
// both of its timestamps (AV_NOPTS_VALUE where unknown), so the decoder's
// best_effort_timestamp can reorder them. A NULL data with size 0 enters draining mode.
int as_send(AVCodecContext *c, AVPacket *pkt, const uint8_t *data, int size, int64_t pts, int64_t dts, int64_t dur, int flags) {
	if (data == NULL && size == 0) {
		return avcodec_send_packet(c, NULL);
	}
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
// *sws when the geometry is unchanged.
int as_scale(struct SwsContext **sws, AVFrame *f, uint8_t *dst, int stride, int dw, int dh) {
	*sws = sws_getCachedContext(*sws, f->width, f->height, f->format, dw, dh, AV_PIX_FMT_RGB24,
		SWS_BILINEAR, NULL, NULL, NULL);
	if (*sws == NULL) return AVERROR(EINVAL);
	uint8_t *dsts[4] = {dst, NULL, NULL, NULL};
	int strides[4] = {stride, 0, 0, 0};
	int h = sws_scale(*sws, (const uint8_t * const *)f->data, f->linesize, 0, f->height, dsts, strides);
	return h == dh ? 0 : AVERROR(EINVAL);
}

// as_scale_rect converts the sw x sh rectangle at (sx, sy) of frame f into packed RGB24 of
// dw x dh: the source planes are offset to the rectangle, so the pixels outside it are never
// read. sx and sy are moved to the nearest whole chroma sample (even, for 4:2:0); formats whose planes cannot be offset
// by whole bytes (palette, bitstream, hardware) give AVERROR(ENOSYS) for the caller to convert
// the whole frame instead.
int as_scale_rect(struct SwsContext **sws, AVFrame *f, int sx, int sy, int sw, int sh, uint8_t *dst, int stride, int dw, int dh) {
	const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(f->format);
	if (d == NULL || (d->flags & (AV_PIX_FMT_FLAG_PAL | AV_PIX_FMT_FLAG_BITSTREAM | AV_PIX_FMT_FLAG_HWACCEL)))
		return AVERROR(ENOSYS);
	sx = (sx + ((1 << d->log2_chroma_w) >> 1)) & ~((1 << d->log2_chroma_w) - 1);
	sy = (sy + ((1 << d->log2_chroma_h) >> 1)) & ~((1 << d->log2_chroma_h) - 1);
	if (sx < 0 || sy < 0 || sw <= 0 || sh <= 0 || sx + sw > f->width || sy + sh > f->height)
		return AVERROR(EINVAL);
	const uint8_t *src[4] = {NULL, NULL, NULL, NULL};
	int planes = av_pix_fmt_count_planes(f->format);
	for (int p = 0; p < planes && p < 4; p++) {
		// The plane's first component tells its byte step and whether it is subsampled.
		int c = 0;
		while (c < d->nb_components && d->comp[c].plane != p) c++;
		if (c == d->nb_components) return AVERROR(ENOSYS);
		int chroma = (c == 1 || c == 2) && !(d->flags & AV_PIX_FMT_FLAG_RGB);
		int x = chroma ? sx >> d->log2_chroma_w : sx, y = chroma ? sy >> d->log2_chroma_h : sy;
		src[p] = f->data[p] + (ptrdiff_t)y * f->linesize[p] + (ptrdiff_t)x * d->comp[c].step;
	}
	*sws = sws_getCachedContext(*sws, sw, sh, f->format, dw, dh, AV_PIX_FMT_RGB24, SWS_BILINEAR, NULL, NULL, NULL);
	if (*sws == NULL) return AVERROR(EINVAL);
	uint8_t *dsts[4] = {dst, NULL, NULL, NULL};
	int strides[4] = {stride, 0, 0, 0};
	int h = sws_scale(*sws, src, f->linesize, 0, sh, dsts, strides);
	return h == dh ? 0 : AVERROR(EINVAL);
}

struct SwsContext **as_sws_alloc(void) { return av_mallocz(sizeof(struct SwsContext *)); }
void as_sws_free(struct SwsContext **s) { if (s) { sws_freeContext(*s); av_free(s); } }
