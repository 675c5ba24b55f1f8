package media

/*
#include <libavutil/frame.h>
#include <libavutil/pixdesc.h>
static int as_pix_fmt_is_hw(int f) {
	const AVPixFmtDescriptor *d = av_pix_fmt_desc_get((enum AVPixelFormat)f);
	return d != NULL && (d->flags & AV_PIX_FMT_FLAG_HWACCEL) != 0;
}
*/
import "C"

import (
	"fmt"
	"sync/atomic"

	"github.com/asticode/go-astiav"
)

// hwState is the CUDA (NVDEC) side of a Decoder opened with OpenCUDA.
type hwState struct {
	pixFmt astiav.PixelFormat // the hardware surface format (cuda)
	sw     *astiav.Frame      // a downloaded frame, reused
	// downloaded: sw holds the last received frame (reset by Receive).
	downloaded bool
	// software: FFmpeg's get_format offered no CUDA surface for this stream (its
	// profile or size is beyond NVDEC), so it decodes in software.
	software atomic.Bool
}

// OpenCUDA opens the decoder like Open, with one thread, and FFmpeg's CUDA
// hwaccel (NVDEC) on device ("" = the first GPU): frames stay in GPU memory and Scale downloads only the frames it is asked
// to convert. Errors wrap ErrHWUnsupported (no CUDA hwaccel for this codec) or ErrNoHWDevice
// (no CUDA device or driver); the caller then opens in software. A stream whose profile
// NVDEC cannot take decodes in software from the start: SoftwareFallback reports it.
func (d *Decoder) OpenCUDA(info StreamInfo, device string) error {
	d.CloseCodec()
	codec := astiav.FindDecoderByName(info.Codec)
	if codec == nil {
		return fmt.Errorf("no FFmpeg decoder named %q: %w", info.Codec, ErrUnsupportedCodec)
	}
	pixFmt, ok := cudaConfig(codec)
	if !ok {
		return fmt.Errorf("FFmpeg's %s decoder has no CUDA hwaccel: %w", info.Codec, ErrHWUnsupported)
	}
	hw := &hwState{pixFmt: pixFmt, sw: astiav.AllocFrame()}
	if hw.sw == nil {
		return ErrNoMemory
	}
	hdc, err := astiav.CreateHardwareDeviceContext(astiav.HardwareDeviceTypeCUDA, device, nil)
	if err != nil {
		hw.sw.Free()
		return fmt.Errorf("create CUDA device %q: %v: %w", device, err, ErrNoHWDevice)
	}
	// NVDEC does the decoding: one CPU thread feeds it, and FFmpeg 5.1's hwaccels are not
	// all safe with frame threading.
	err = d.open(codec, info, 1, func(cc *astiav.CodecContext) {
		cc.SetHardwareDeviceContext(hdc) // the codec context owns it from here
		cc.SetPixelFormatCallback(func(offered []astiav.PixelFormat) astiav.PixelFormat {
			for _, f := range offered {
				if f == pixFmt {
					return f
				}
			}
			hw.software.Store(true)
			for _, f := range offered {
				if C.as_pix_fmt_is_hw(C.int(f)) == 0 {
					return f
				}
			}
			return astiav.PixelFormatNone
		})
	})
	if err != nil {
		hw.sw.Free()
		return err
	}
	d.hw = hw
	return nil
}

// HWAccel is "cuda" while the open codec decodes on the GPU, "" in software.
func (d *Decoder) HWAccel() string {
	if d.hw == nil || d.hw.software.Load() {
		return ""
	}
	return "cuda"
}

// SoftwareFallback reports that a codec opened with OpenCUDA fell back to software decoding
// because NVDEC refused the stream's format.
func (d *Decoder) SoftwareFallback() bool { return d.hw != nil && d.hw.software.Load() }

func cudaConfig(codec *astiav.Codec) (astiav.PixelFormat, bool) {
	for _, c := range codec.HardwareConfigs() {
		if c.HardwareDeviceType() == astiav.HardwareDeviceTypeCUDA && c.MethodFlags().Has(astiav.CodecHardwareConfigMethodFlagHwDeviceCtx) {
			return c.PixelFormat(), true
		}
	}
	return astiav.PixelFormatNone, false
}

// scaleSource is the frame Scale converts: the decoded one, or its download from the GPU.
func (d *Decoder) scaleSource() (*C.AVFrame, error) {
	if d.hw == nil || d.frame.PixelFormat() != d.hw.pixFmt {
		return d.rframe, nil
	}
	if d.hw.downloaded { // Scale and ScaleRect of one frame download it once
		return rawFrame(d.hw.sw), nil
	}
	d.hw.sw.Unref()
	if err := d.frame.TransferHardwareData(d.hw.sw); err != nil {
		return nil, fmt.Errorf("%w: download from the GPU: %v", ErrScale, err)
	}
	d.hw.downloaded = true
	return rawFrame(d.hw.sw), nil
}

func (d *Decoder) closeHW() {
	if d.hw == nil {
		return
	}
	if d.cc != nil {
		d.cc.SetPixelFormatCallback(nil)
	}
	d.hw.sw.Free()
	d.hw = nil
}
