// The kernel as an ONNX Runtime custom operator (OrtCustomOp), domain "com.actionstream",
// op "DepthwiseConv3d": inputs X [N,C,T,H,W], W [C,1,KT,KH,KW], optional B [C]; attributes
// strides and pads as ONNX Conv's (dilation 1, no auto_pad).
#ifndef ACTIONSTREAM_DWCONV_CUSTOMOP_H
#define ACTIONSTREAM_DWCONV_CUSTOMOP_H

#define DW_DOMAIN "com.actionstream"
#define DW_OP "DepthwiseConv3d"

typedef struct dw_registration dw_registration;

// dw_register adds a domain with the op to the OrtSessionOptions so (an OrtSessionOptions*)
// of the ONNX Runtime library already loaded from lib. It returns NULL and sets *err (a static
// message or one to free with dw_free_error) on failure. The registration must outlive every
// session made from so; dw_release frees it.
dw_registration* dw_register(void* so, const char* lib, int path, char** err);
void dw_release(dw_registration* r);
void dw_free_error(char* err);

#endif
