#ifndef WINNOW_VIDEO_SHIM_H
#define WINNOW_VIDEO_SHIM_H

#include <stddef.h>
#include <stdint.h>

/// One open video (FFmpeg's libavformat + libavcodec + libswscale): its best video stream,
/// read one packet or one decoded frame at a time. Not thread-safe; one per thread.
typedef struct winnow_video winnow_video;

/// What the container and the video stream's header declare.
typedef struct {
    int width, height;
    /// The stream's time base: a timestamp t is t * num / den seconds.
    int time_base_num, time_base_den;
    /// First timestamp of the stream (0 when unknown), in its time base.
    int64_t start_pts;
    /// Declared duration in seconds (negative when unknown).
    double duration_seconds;
    /// Declared frame count (0 when unknown).
    int64_t frame_count;
    /// Streams of each kind in the container.
    int video_streams, audio_streams;
    /// The codec's short name ("h264", "vp9", …).
    char codec[32];
    /// The container's short name ("mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", …).
    char container[64];
} winnow_video_info;

/// Opens the video at `path`. Returns 0, or a negative FFmpeg error with a message in `error`
/// (`-1000` when the file holds no video stream, `-1001` when its codec has no decoder).
int winnow_video_open(const char *path, winnow_video **video, winnow_video_info *info,
                      char *error, size_t error_size);

/// Reads the next packet of the video stream (demuxing only, no decoding): 1 with its
/// timestamp (INT64_MIN when it has none) and whether it starts a keyframe, 0 at the end,
/// negative on a read error (message in `error`).
int winnow_video_next_packet(winnow_video *video, int64_t *pts, int *keyframe,
                             char *error, size_t error_size);

/// Decodes up to the next frame: 1 with its timestamp, 0 at the end, negative when the data
/// cannot be read (message in `error`). Packets the decoder rejects are skipped and counted.
/// With `keyframes_only`, other frames are not decoded.
int winnow_video_next_frame(winnow_video *video, int keyframes_only, int64_t *pts,
                            char *error, size_t error_size);

/// Packets the decoder rejected so far.
int64_t winnow_video_rejected_packets(const winnow_video *video);

/// The size of the last decoded frame.
void winnow_video_frame_size(const winnow_video *video, int *width, int *height);

/// Converts the last decoded frame to 8-bit RGB (width * height * 3 bytes, no padding) into
/// `rgb`, which holds `capacity` bytes. Returns 0, or negative (message in `error`).
int winnow_video_frame_rgb(winnow_video *video, uint8_t *rgb, size_t capacity,
                           char *error, size_t error_size);

/// Seeks to the keyframe at or before `pts` and resets the decoder. Returns 0 or negative.
int winnow_video_seek(winnow_video *video, int64_t pts, char *error, size_t error_size);

void winnow_video_close(winnow_video *video);

#endif
