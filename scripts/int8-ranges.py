#!/usr/bin/env python3
"""Activation ranges for Winnow's int8 MobileNetV2 (`--model mobilenet_v2_int8`): dev-only.

Winnow converts the int8 model itself (MobileNetV2Converter, no Python at run time) but needs
the range of every activation it quantises. Those ranges depend only on the fixed torchvision
weights and the calibration images, so they are computed once here and shipped as a Swift table:

    python3 scripts/int8-ranges.py > Sources/WinnowCore/Embed/MobileNetV2Int8Ranges.swift

Needs numpy, pillow, onnx and onnxruntime (measured with onnxruntime 1.22.1, onnx 1.23.2), the
fp32 models Winnow converted (`winnow models pull`; `winnow run --model mobilenet_v2
--input-size 160` converts `mobilenet_v2_160.onnx`; 128 and 192, the copy descriptor's views, likewise) and corpus set C
(`bash scripts/prepare-corpus.sh C`).

Calibration, exactly:
- images: the first N (default 128) of `<corpus>/images/000/*.jpg`, sorted by name;
- preprocessing: Winnow's (torchvision's) — RGB, short side resized to round(size × 256/224)
  with PIL's antialiased bilinear filter, centre crop size × size, /255, ImageNet mean/std;
- for the sizes of `--grey-sizes` (default 128, the copy descriptor's grey view), also the
  grey view — the image squashed to 80 × 80 (area), grey, then to size × size (bilinear) — and
  the union of both ranges is kept;
- for every activation tensor T of the fp32 model (each `*.out` and `feature_map`):
  lo = min(T), hi = max(T) over all elements of all images; with the |x| percentile p
  (default 99.999), t = the k-th largest |x| over all elements of all images,
  k = ceil((1 − p/100) × element count); the range is (max(lo, −t), min(hi, t)) — the rule of
  onnxruntime's symmetric percentile calibrator, computed exactly rather than by histogram.
Winnow turns a range (l, h) into uint8 parameters itself (scale = (max(0,h) − min(0,l)) / 255,
zero point = round(−min(0,l) / scale), half to even).
"""
import argparse
import glob
import math
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from PIL import Image

MEAN = np.array([0.485, 0.456, 0.406], np.float32).reshape(1, 3, 1, 1)
STD = np.array([0.229, 0.224, 0.225], np.float32).reshape(1, 3, 1, 1)
GREY_SIDE = 80


def crop(path, size):
    """Winnow's centre-crop preprocessing as uint8 HWC."""
    short = (size * 256 + 112) // 224
    image = Image.open(path).convert("RGB")
    w, h = image.size
    if w <= h:
        nw, nh = short, max(1, round(h * short / w))
    else:
        nh, nw = short, max(1, round(w * short / h))
    image = image.resize((nw, nh), Image.BILINEAR)
    left, top = int(round((nw - size) / 2.0)), int(round((nh - size) / 2.0))
    return np.asarray(image.crop((left, top, left + size, top + size)), dtype=np.uint8)


def grey_view(path, size):
    """The copy descriptor's grey view as uint8 HWC: squashed to GREY_SIDE² (area), grey, then
    squashed to size × size (bilinear)."""
    image = Image.open(path).convert("RGB").resize((GREY_SIDE, GREY_SIDE), Image.BOX).convert("L").convert("RGB")
    return np.asarray(image.resize((size, size), Image.BILINEAR), dtype=np.uint8)


def normalise(batch):
    return ((batch.transpose(0, 3, 1, 2).astype(np.float32) / 255.0) - MEAN) / STD


def ranges(model_path, files, size, percentile, view=crop, batch=8):
    """{tensor: (low, high)} for the `*.out` tensors and `feature_map` of the fp32 model on
    `files` as `view` makes them."""
    model = onnx.load(model_path)
    names = [o for node in model.graph.node for o in node.output if o.endswith(".out") or o == "feature_map"]
    declared = {o.name for o in model.graph.output}
    for name in names:
        if name not in declared:
            model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    low, high, top, count = {}, {}, {}, {}
    fraction = 1 - percentile / 100
    for start in range(0, len(files), batch):
        x = normalise(np.stack([view(f, size) for f in files[start:start + batch]]))
        for name, value in zip(names, session.run(names, {"input": x})):
            v = value.ravel()
            low[name] = min(low.get(name, math.inf), float(v.min()))
            high[name] = max(high.get(name, -math.inf), float(v.max()))
            count[name] = count.get(name, 0) + v.size
            # Keep enough of the largest |x| to find the k-th largest over everything.
            keep = min(v.size, int(np.ceil(fraction * len(files) * v.size)) + 1)
            a = np.abs(v)
            merged = np.concatenate([top.get(name, np.empty(0, np.float32)), np.partition(a, a.size - keep)[a.size - keep:]])
            keep = min(merged.size, int(np.ceil(fraction * len(files) * v.size)) + 1)
            top[name] = np.partition(merged, merged.size - keep)[merged.size - keep:]
        print(f"  {size}: {min(start + batch, len(files))}/{len(files)} images", file=sys.stderr, flush=True)
    result = {}
    for name in names:
        k = int(np.ceil(fraction * count[name]))
        t = float(np.sort(top[name])[::-1][max(0, k - 1)])
        result[name] = (max(low[name], -t), min(high[name], t))
    return result


def swift_float(value):
    """The shortest literal that round-trips the float32 value."""
    return str(np.float32(value))


def swift_source(tables, images, percentile, grey_sizes):
    lines = [
        "// Generated by scripts/int8-ranges.py: do not edit by hand.",
        "",
        "extension MobileNetV2Converter {",
        "    /// Activation ranges (low, high) of the int8 model (``Precision/int8``) per input size, for",
        "    /// each `*.out` tensor and `feature_map` of the fp32 model: computed by",
        f"    /// `scripts/int8-ranges.py` over the first {images} images of corpus set C `images/000` (sorted by",
        "    /// name) with Winnow's centre-crop preprocessing; low = max(min x, −t), high = min(max x, t),",
        f"    /// t = the {percentile}th percentile of |x| over all elements of all images (exact, not a histogram).",
        f"    /// {'Size' if len(grey_sizes) == 1 else 'Sizes'} {', '.join(map(str, sorted(grey_sizes)))}: the union with the same over the copy descriptor's grey view",
        f"    /// (the image squashed to {GREY_SIDE}² by area, grey, then to the size bilinearly).",
        "    static let int8ActivationRanges: [Int: [String: (low: Float, high: Float)]] = [",
    ]
    for size, table in tables.items():
        lines.append(f"        {size}: [")
        for name, (low, high) in table.items():
            lines.append(f'            "{name}": ({swift_float(low)}, {swift_float(high)}),')
        lines.append("        ],")
    lines += ["    ]", "}", ""]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    home = os.path.expanduser("~/.cache/winnow")
    parser.add_argument("--corpus", default=f"{home}/corpus/C", help="corpus set C (its images/000 folder is used)")
    parser.add_argument("--models", default=f"{home}/models", help="folder of Winnow's converted fp32 models")
    parser.add_argument("--images", type=int, default=128)
    parser.add_argument("--percentile", type=float, default=99.999)
    parser.add_argument("--sizes", default="224,160,128,192")
    parser.add_argument("--grey-sizes", default="128", help="sizes whose ranges also cover the copy descriptor's grey view")
    args = parser.parse_args()
    grey_sizes = {int(s) for s in args.grey_sizes.split(",") if s}
    files = sorted(glob.glob(os.path.join(args.corpus, "images", "000", "*.jpg")))[: args.images]
    if len(files) < args.images:
        sys.exit(f"int8-ranges: {len(files)} images under {args.corpus}/images/000, need {args.images}")
    tables = {}
    for size in (int(s) for s in args.sizes.split(",")):
        name = "mobilenet_v2.onnx" if size == 224 else f"mobilenet_v2_{size}.onnx"
        path = os.path.join(args.models, name)
        if not os.path.exists(path):
            sys.exit(f"int8-ranges: {path} not found (convert it with winnow first)")
        tables[size] = ranges(path, files, size, args.percentile)
        if size in grey_sizes:
            grey = ranges(path, files, size, args.percentile, view=grey_view)
            tables[size] = {name: (min(low, grey[name][0]), max(high, grey[name][1])) for name, (low, high) in tables[size].items()}
    sys.stdout.write(swift_source(tables, args.images, args.percentile, grey_sizes))


if __name__ == "__main__":
    main()
