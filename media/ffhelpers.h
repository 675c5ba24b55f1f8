#ifndef ACTIONSTREAM_FFHELPERS_H
#define ACTIONSTREAM_FFHELPERS_H
#include <libavformat/avformat.h>
#include <libavcodec/avcodec.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

// as_frame_info is filled by as_receive for the Go side to read without more cgo calls.
typedef struct {
	int64_t pts, dts; // the frame's pts and the dts of the packet that completed it
	int width, height, format, corrupt;
} as_frame_info;

int as_send(AVCodecContext *c, AVPacket *pkt, const uint8_t *data, int size, int64_t pts, int64_t dts, int64_t dur, int flags, int skip_nonref);
int as_receive(AVCodecContext *c, AVFrame *f, as_frame_info *info);
as_frame_info *as_info_alloc(void);
// as_scaler is a cached swscale context plus the scratch planes of as_scale_rect's YUV path.
typedef struct {
	struct SwsContext *sws;
	uint8_t *planes;
	size_t planes_size;
	int rgb_only; // as_scale_rect: always let swscale write RGB24 (the reference in tests)
} as_scaler;

int as_scale(as_scaler *s, AVFrame *f, uint8_t *dst, int stride, int dw, int dh);
int as_scale_rect(as_scaler *s, AVFrame *f, int sx, int sy, int sw, int sh, uint8_t *dst, int stride, int dw, int dh,
	float *planes, const float *lut);
as_scaler *as_scaler_alloc(void);
void as_scaler_free(as_scaler *s);
#endif
