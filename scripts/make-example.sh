#!/usr/bin/env bash
# Builds the bundled example dataset from scikit-image's real photos (Debian python3-skimage):
# originals, an exact copy, near duplicates (resized, cropped, recompressed), a truncated JPEG,
# a zero-byte file, a blurry, a dark and a bright photo, a grayscale one and a notes file.
# Usage: make-example.sh SKIMAGE_DATA_DIR OUT_DIR   (does nothing if OUT_DIR is complete)
set -euo pipefail
DATA=$1; OUT=$2
[ -f "$OUT/.complete" ] && exit 0
rm -rf "$OUT"; mkdir -p "$OUT/photos" "$OUT/issues"
v() { vips "$@" 2>/dev/null; }
for name in astronaut coffee chelsea motorcycle_left motorcycle_right ihc; do
  v copy "$DATA/$name.png" "$OUT/photos/$name.jpg[Q=92]"
done
cp "$DATA/rocket.jpg" "$OUT/photos/rocket.jpg"
cp "$DATA/hubble_deep_field.jpg" "$OUT/photos/hubble.jpg"
# duplicates
cp "$OUT/photos/coffee.jpg" "$OUT/photos/coffee (copy).jpg"
v resize "$OUT/photos/chelsea.jpg" "$OUT/photos/chelsea_small.jpg[Q=85]" 0.5
v extract_area "$OUT/photos/rocket.jpg" "$OUT/photos/rocket_crop.jpg[Q=90]" 40 30 340 360
v copy "$OUT/photos/astronaut.jpg" "$OUT/photos/astronaut_q30.jpg[Q=30]"
# broken files
size=$(stat -c %s "$OUT/photos/motorcycle_left.jpg")
head -c $((size / 2)) "$OUT/photos/motorcycle_left.jpg" > "$OUT/issues/motorcycle_truncated.jpg"
: > "$OUT/issues/empty.jpg"
# quality issues
v gaussblur "$OUT/photos/coffee.jpg" "$OUT/issues/coffee_blurry.jpg[Q=90]" 6
v linear "$OUT/photos/chelsea.jpg" "$OUT/issues/chelsea_dark.jpg[Q=90]" 0.07 0
v linear "$OUT/photos/astronaut.jpg" "$OUT/issues/astronaut_bright.jpg[Q=90]" 0.1 229
v colourspace "$OUT/photos/ihc.jpg" "$OUT/issues/ihc_gray.jpg[Q=90]" b-w
echo "Example images made by scripts/make-example.sh from scikit-image's data (BSD licence)." > "$OUT/README.txt"
touch "$OUT/.complete"
echo "example: $(find "$OUT" -type f ! -name '.*' | wc -l) files in $OUT"
