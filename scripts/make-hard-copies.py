"""Adds the copies corpus set A lacks (issue 19) to a copy of a set A folder: heavy crops,
quarter turns, rotations inside a padded frame, small thumbnails, very low JPEG quality and a
hard combination — with parameters of Winnow's own choosing, so that the goal is measured on
photos and transforms the public generator does not make.

usage: make-hard-copies.py SET_A_DIR OUT_DIR [--seed S] [--fraction F]
(with Pillow, e.g. the corpus generator's venv: ~/.cache/winnow/corpus-base/venv/bin/python)

OUT_DIR gets images/ (set A's files, hard-linked, plus the new copies), ground_truth.csv and
pairs.csv in set A's format, so score_near_duplicates.py and `winnow-bench copies` score it.
Each original gets one hard copy with probability F (default 0.6), of a transform drawn
uniformly; the same seed gives the same set."""
import argparse, csv, hashlib, json, os, random, shutil
from pathlib import Path
from PIL import Image, ImageOps

HARD = ["crop55", "quarter_turn", "rotate_padded", "thumbnail25", "jpeg_q10", "combo_hard"]


def hard_copy(im, transform, rng):
    """(image, params, JPEG quality) of one hard copy of `im`."""
    w, h = im.size
    quality = 85
    if transform == "crop55":                      # keep 50–62 % of each side, anywhere
        fx, fy = rng.uniform(0.50, 0.62), rng.uniform(0.50, 0.62)
        cw, ch = int(w * fx), int(h * fy)
        x0, y0 = rng.randint(0, w - cw), rng.randint(0, h - ch)
        return im.crop((x0, y0, x0 + cw, y0 + ch)), dict(box=[x0, y0, x0 + cw, y0 + ch]), quality
    if transform == "quarter_turn":
        turn = rng.choice([Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_270])
        return im.transpose(turn), dict(turn=90 if turn == Image.Transpose.ROTATE_90 else 270), quality
    if transform == "rotate_padded":               # 15–40°, same canvas, corners filled
        angle = rng.uniform(15, 40) * rng.choice([-1, 1])
        fill = rng.choice([(0, 0, 0), (255, 255, 255)])
        out = im.rotate(angle, resample=Image.BICUBIC, expand=rng.random() < 0.3, fillcolor=fill)
        return out, dict(angle=round(angle, 2), fill=fill[0], canvas=list(out.size)), quality
    if transform == "thumbnail25":                 # 18–30 % of each side
        s = rng.uniform(0.18, 0.30)
        out = im.resize((max(8, int(w * s)), max(8, int(h * s))), Image.LANCZOS)
        return out, dict(scale=round(s, 3)), quality
    if transform == "jpeg_q10":
        return im, {}, rng.randint(6, 14)
    # combo_hard: crop 65–85 %, then 30–45 % of the size, JPEG 25–45
    f = rng.uniform(0.65, 0.85)
    cw, ch = int(w * f), int(h * f)
    x0, y0 = rng.randint(0, w - cw), rng.randint(0, h - ch)
    s = rng.uniform(0.30, 0.45)
    out = im.crop((x0, y0, x0 + cw, y0 + ch)).resize((max(8, int(cw * s)), max(8, int(ch * s))), Image.LANCZOS)
    return out, dict(crop=round(f, 3), scale=round(s, 3)), rng.randint(25, 45)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("set_a")
    parser.add_argument("out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fraction", type=float, default=0.6)
    args = parser.parse_args()
    source, out = Path(args.set_a), Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    (out / "images").mkdir(parents=True)
    rows = list(csv.DictReader(open(source / "ground_truth.csv")))
    for row in rows:
        os.link(source / "images" / row["file"], out / "images" / row["file"])
    added = []
    for row in sorted((r for r in rows if r["transform"] == "original"), key=lambda r: r["original_id"]):
        rng = random.Random("%d-%s" % (args.seed, row["original_id"]))
        if rng.random() >= args.fraction:
            continue
        transform = rng.choice(HARD)
        im = Image.open(source / "images" / row["file"]).convert("RGB")
        copy, params, quality = hard_copy(im, transform, rng)
        name = hashlib.sha1(("hard-%d-%s" % (args.seed, row["original_id"])).encode()).hexdigest()[:12] + ".jpg"
        copy.save(out / "images" / name, "JPEG", quality=quality)
        params["quality"] = quality
        added.append(dict(row, file=name, transform=transform, params=json.dumps(params, sort_keys=True)))
    fields = list(rows[0].keys())
    with open(out / "ground_truth.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fields)
        writer.writeheader()
        writer.writerows(sorted(rows + added, key=lambda r: r["file"]))
    pairs = list(csv.DictReader(open(source / "pairs.csv")))
    members = {}
    for row in rows:
        members.setdefault(row["original_id"], []).append(row)
    for copy in added:
        for other in members[copy["original_id"]]:
            a, b = sorted((copy["file"], other["file"]))
            pairs.append(dict(file_a=a, file_b=b, label="duplicate", detail="%s|%s" % (copy["transform"], other["transform"])))
    with open(out / "pairs.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, ["file_a", "file_b", "label", "detail"])
        writer.writeheader()
        writer.writerows(pairs)
    counts = {t: sum(1 for r in added if r["transform"] == t) for t in HARD}
    print("hard copies: %d (%s)" % (len(added), ", ".join("%s %d" % kv for kv in counts.items())))


if __name__ == "__main__":
    main()
