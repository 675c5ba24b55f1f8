package media

// The hot path calls FFmpeg directly: go-astiav boxes every negative return code into an error
// interface (an allocation per call, and EAGAIN ends every receive loop), and its scaler only
// writes into AVFrames, not into our own memory. go-astiav v0.16 exposes no raw pointer for
// AVCodecContext and AVPacket, so they are read through unsafe here, and only here.

/*
#cgo pkg-config: libavformat libavcodec libavutil libswscale
#include "ffhelpers.h"
*/
import "C"

import (
	"unsafe"

	"github.com/asticode/go-astiav"
)

// go-astiav v0.16.0 keeps the FFmpeg pointer as the unexported first field of its wrappers;
// TestRawPointers pins that layout so an upgrade that changes it fails loudly.
func rawCodecContext(cc *astiav.CodecContext) *C.AVCodecContext {
	return *(**C.AVCodecContext)(unsafe.Pointer(cc))
}

func rawPacket(p *astiav.Packet) *C.AVPacket {
	return *(**C.AVPacket)(unsafe.Pointer(p))
}

func rawFrame(f *astiav.Frame) *C.AVFrame {
	return (*C.AVFrame)(f.UnsafePointer())
}

// packetData aliases the packet's payload (C memory) without copying.
func packetData(p *C.AVPacket) []byte {
	if p.data == nil || p.size <= 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(p.data)), int(p.size))
}

var (
	errAgain = int(-C.EAGAIN)
	errEOF   = int(C.AVERROR_EOF)
)

// AllocBuffer returns n bytes of FFmpeg-aligned C memory for Scale to write into; the caller
// frees it with FreeBuffer. Nil when out of memory.
func AllocBuffer(n int) []byte {
	p := C.av_malloc(C.size_t(n + 64))
	if p == nil {
		return nil
	}
	return unsafe.Slice((*byte)(p), n)
}

// FreeBuffer frees memory from AllocBuffer.
func FreeBuffer(b []byte) {
	if len(b) > 0 {
		C.av_free(unsafe.Pointer(&b[0]))
	}
}
