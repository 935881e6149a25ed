#include "video_shim.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>
#include <stdio.h>
#include <string.h>

struct winnow_video {
    AVFormatContext *format;
    AVCodecContext *codec;
    AVPacket *packet;
    AVFrame *frame;
    struct SwsContext *scaler;
    /// swscale's output: padded, aligned rows (its SIMD paths write past a tight row's end).
    AVFrame *rgb;
    int stream;
    int draining;
    int64_t rejected;
};

static void describe(int status, const char *what, char *error, size_t size) {
    char reason[AV_ERROR_MAX_STRING_SIZE] = {0};
    av_strerror(status, reason, sizeof reason);
    snprintf(error, size, "%s: %s", what, reason);
}

static void quiet_once(void) {
    static int done = 0;
    if (!done) { av_log_set_level(AV_LOG_QUIET); done = 1; }
}

static void fill_info(const winnow_video *video, winnow_video_info *info) {
    const AVStream *stream = video->format->streams[video->stream];
    memset(info, 0, sizeof *info);
    info->width = stream->codecpar->width;
    info->height = stream->codecpar->height;
    info->time_base_num = stream->time_base.num;
    info->time_base_den = stream->time_base.den;
    info->start_pts = stream->start_time == AV_NOPTS_VALUE ? 0 : stream->start_time;
    info->duration_seconds = -1;
    if (stream->duration != AV_NOPTS_VALUE && stream->time_base.den > 0)
        info->duration_seconds = stream->duration * av_q2d(stream->time_base);
    else if (video->format->duration != AV_NOPTS_VALUE)
        info->duration_seconds = video->format->duration / (double)AV_TIME_BASE;
    info->frame_count = stream->nb_frames;
    for (unsigned i = 0; i < video->format->nb_streams; i++) {
        enum AVMediaType type = video->format->streams[i]->codecpar->codec_type;
        if (type == AVMEDIA_TYPE_VIDEO) info->video_streams++;
        if (type == AVMEDIA_TYPE_AUDIO) info->audio_streams++;
    }
    snprintf(info->codec, sizeof info->codec, "%s", avcodec_get_name(stream->codecpar->codec_id));
    snprintf(info->container, sizeof info->container, "%s", video->format->iformat->name);
}

static int open_decoder(winnow_video *video, char *error, size_t size) {
    const AVStream *stream = video->format->streams[video->stream];
    const AVCodec *decoder = avcodec_find_decoder(stream->codecpar->codec_id);
    if (!decoder) {
        snprintf(error, size, "no decoder for codec %s", avcodec_get_name(stream->codecpar->codec_id));
        return -1001;
    }
    video->codec = avcodec_alloc_context3(decoder);
    if (!video->codec) return AVERROR(ENOMEM);
    int status = avcodec_parameters_to_context(video->codec, stream->codecpar);
    if (status < 0) { describe(status, "codec parameters", error, size); return status; }
    video->codec->thread_count = 0;
    video->codec->pkt_timebase = stream->time_base;
    status = avcodec_open2(video->codec, decoder, NULL);
    if (status < 0) describe(status, "cannot open the decoder", error, size);
    return status;
}

int winnow_video_open(const char *path, winnow_video **out, winnow_video_info *info,
                      char *error, size_t size) {
    quiet_once();
    *out = NULL;
    winnow_video *video = calloc(1, sizeof *video);
    if (!video) return AVERROR(ENOMEM);
    int status = avformat_open_input(&video->format, path, NULL, NULL);
    if (status < 0) { describe(status, "cannot open as a video", error, size); free(video); return status; }
    status = avformat_find_stream_info(video->format, NULL);
    if (status < 0) { describe(status, "cannot read the streams", error, size); winnow_video_close(video); return status; }
    video->stream = av_find_best_stream(video->format, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (video->stream < 0) {
        winnow_video_info partial;
        memset(&partial, 0, sizeof partial);
        for (unsigned i = 0; i < video->format->nb_streams; i++)
            if (video->format->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_AUDIO) partial.audio_streams++;
        snprintf(error, size, "no video stream (%d audio stream%s)", partial.audio_streams,
                 partial.audio_streams == 1 ? "" : "s");
        winnow_video_close(video);
        return -1000;
    }
    fill_info(video, info);
    video->packet = av_packet_alloc();
    video->frame = av_frame_alloc();
    if (!video->packet || !video->frame) { winnow_video_close(video); return AVERROR(ENOMEM); }
    *out = video;
    return 0;
}

int winnow_video_next_packet(winnow_video *video, int64_t *pts, int *keyframe, char *error, size_t size) {
    for (;;) {
        int status = av_read_frame(video->format, video->packet);
        if (status == AVERROR_EOF) return 0;
        if (status < 0) { describe(status, "read error", error, size); return status; }
        if (video->packet->stream_index == video->stream) {
            *pts = video->packet->pts != AV_NOPTS_VALUE ? video->packet->pts
                 : video->packet->dts != AV_NOPTS_VALUE ? video->packet->dts : INT64_MIN;
            *keyframe = (video->packet->flags & AV_PKT_FLAG_KEY) != 0;
            av_packet_unref(video->packet);
            return 1;
        }
        av_packet_unref(video->packet);
    }
}

/// Sends the next packet of the video stream to the decoder (or, at the end, starts draining).
static int feed(winnow_video *video, char *error, size_t size) {
    for (;;) {
        int status = av_read_frame(video->format, video->packet);
        if (status == AVERROR_EOF) {
            video->draining = 1;
            return avcodec_send_packet(video->codec, NULL) == AVERROR_EOF ? 0 : 0;
        }
        if (status < 0) { describe(status, "read error", error, size); return status; }
        if (video->packet->stream_index != video->stream) { av_packet_unref(video->packet); continue; }
        status = avcodec_send_packet(video->codec, video->packet);
        av_packet_unref(video->packet);
        if (status < 0 && status != AVERROR(EAGAIN)) video->rejected++;
        return 0;
    }
}

int winnow_video_next_frame(winnow_video *video, int keyframes_only, int64_t *pts, char *error, size_t size) {
    if (!video->codec) {
        int status = open_decoder(video, error, size);
        if (status < 0) return status;
    }
    video->codec->skip_frame = keyframes_only ? AVDISCARD_NONKEY : AVDISCARD_DEFAULT;
    for (;;) {
        int status = avcodec_receive_frame(video->codec, video->frame);
        if (status == 0) {
            *pts = video->frame->best_effort_timestamp != AV_NOPTS_VALUE ? video->frame->best_effort_timestamp
                 : video->frame->pts != AV_NOPTS_VALUE ? video->frame->pts : INT64_MIN;
            return 1;
        }
        if (status == AVERROR_EOF) return 0;
        if (status != AVERROR(EAGAIN)) {
            video->rejected++;
            if (video->draining) return 0;
        }
        if (video->draining) return 0;
        status = feed(video, error, size);
        if (status < 0) return status;
    }
}

int64_t winnow_video_rejected_packets(const winnow_video *video) { return video->rejected; }

void winnow_video_frame_size(const winnow_video *video, int *width, int *height) {
    *width = video->frame->width;
    *height = video->frame->height;
}

int winnow_video_frame_rgb(winnow_video *video, uint8_t *rgb, size_t capacity, char *error, size_t size) {
    AVFrame *frame = video->frame;
    if (frame->width <= 0 || frame->height <= 0 || (size_t)frame->width * frame->height * 3 > capacity) {
        snprintf(error, size, "frame size %dx%d does not fit", frame->width, frame->height);
        return -1;
    }
    video->scaler = sws_getCachedContext(video->scaler, frame->width, frame->height, frame->format,
                                         frame->width, frame->height, AV_PIX_FMT_RGB24,
                                         SWS_BILINEAR, NULL, NULL, NULL);
    if (!video->scaler) {
        snprintf(error, size, "cannot convert pixel format %s to RGB", av_get_pix_fmt_name(frame->format));
        return -1;
    }
    if (!video->rgb || video->rgb->width != frame->width || video->rgb->height != frame->height) {
        av_frame_free(&video->rgb);
        video->rgb = av_frame_alloc();
        if (!video->rgb) return AVERROR(ENOMEM);
        video->rgb->format = AV_PIX_FMT_RGB24;
        video->rgb->width = frame->width;
        video->rgb->height = frame->height;
        int status = av_frame_get_buffer(video->rgb, 64);
        if (status < 0) { av_frame_free(&video->rgb); describe(status, "frame buffer", error, size); return status; }
    }
    int rows = sws_scale(video->scaler, (const uint8_t *const *)frame->data, frame->linesize, 0,
                         frame->height, video->rgb->data, video->rgb->linesize);
    if (rows != frame->height) { snprintf(error, size, "pixel conversion failed"); return -1; }
    size_t row = (size_t)frame->width * 3;
    for (int y = 0; y < frame->height; y++)
        memcpy(rgb + (size_t)y * row, video->rgb->data[0] + (size_t)y * video->rgb->linesize[0], row);
    return 0;
}

int winnow_video_seek(winnow_video *video, int64_t pts, char *error, size_t size) {
    int status = av_seek_frame(video->format, video->stream, pts, AVSEEK_FLAG_BACKWARD);
    if (status < 0) { describe(status, "cannot seek", error, size); return status; }
    if (video->codec) avcodec_flush_buffers(video->codec);
    video->draining = 0;
    return 0;
}

void winnow_video_close(winnow_video *video) {
    if (!video) return;
    sws_freeContext(video->scaler);
    av_frame_free(&video->rgb);
    av_frame_free(&video->frame);
    av_packet_free(&video->packet);
    avcodec_free_context(&video->codec);
    avformat_close_input(&video->format);
    free(video);
}
