#include "vips_shim.h"
#include <vips/vips.h>

static void winnow_silence(const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer data) {
    (void)domain; (void)level; (void)message; (void)data;
}

static GOnce winnow_once = G_ONCE_INIT;

static gpointer winnow_start_once(gpointer unused) {
    (void)unused;
    g_log_set_handler("VIPS", G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO, winnow_silence, NULL);
    return GINT_TO_POINTER(vips_init("winnow") == 0 ? 1 : 2);
}

int winnow_vips_start(void) {
    gpointer r = g_once(&winnow_once, winnow_start_once, NULL);
    return GPOINTER_TO_INT(r) == 1 ? 0 : -1;
}
