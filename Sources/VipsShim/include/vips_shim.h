#ifndef WINNOW_VIPS_SHIM_H
#define WINNOW_VIPS_SHIM_H
#include <stddef.h>
/// Starts libvips once (thread-safe) with its warnings silenced. Returns 0 on success.
int winnow_vips_start(void);
#endif
