// Definitions that keep libavdevice and libavfilter out of the process.
//
// go-astiav wraps both libraries, and its C stubs reference them even when nothing calls the
// wrappers, so the linker records both as needed: with their own dependencies that is 79 of
// the 215 shared libraries FFmpeg brings, and loading them cost about 40 ms of every process
// start (the dynamic loader binds each library's symbols across all the others). actionstream
// reads files and network streams, never capture devices, and filters nothing; with these
// definitions in the executable, no symbol of either library is left unresolved and the
// linker (--as-needed, Debian's default) drops them. media/unlinked_test.go checks that they
// stay out, and that nothing reaches a stub.
#include <stdio.h>
#include <stdlib.h>

// avdevice_register_all is go-astiav's package init: with no devices, nothing to register.
void avdevice_register_all(void) {}

static void as_unlinked(const char *name) {
	fprintf(stderr, "actionstream: FFmpeg's %s is not linked into this binary (media/unlinked.c)\n", name);
	abort();
}

#define AS_UNLINKED(name) void name(void) { as_unlinked(#name); }
AS_UNLINKED(av_buffersink_get_frame_flags)
AS_UNLINKED(av_buffersrc_add_frame_flags)
AS_UNLINKED(avfilter_free)
AS_UNLINKED(avfilter_get_by_name)
AS_UNLINKED(avfilter_graph_alloc)
AS_UNLINKED(avfilter_graph_config)
AS_UNLINKED(avfilter_graph_create_filter)
AS_UNLINKED(avfilter_graph_dump)
AS_UNLINKED(avfilter_graph_free)
AS_UNLINKED(avfilter_graph_parse_ptr)
AS_UNLINKED(avfilter_graph_send_command)
AS_UNLINKED(avfilter_inout_alloc)
AS_UNLINKED(avfilter_inout_free)
