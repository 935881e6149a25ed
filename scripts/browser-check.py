#!/usr/bin/env python3
"""Loads a running `winnow serve` app and the galleries `winnow gallery` wrote in headless Chromium
and checks them as a person would: every view renders, thumbnails load, a real mouse click on a map
point opens that image's neighbours (the same ones /api/neighbors gives), with annotations the
label views (wrong-label sort and filter, suggested labels) work, every gallery page loads with
its pictures, and the console stays free of errors. The work_dir must have a map and a gallery.
Screenshots go to --out. Drives Chromium over the DevTools protocol (websocket-client).

Usage: browser-check.py --url http://127.0.0.1:PORT/ --out DIR [--token T] [--chromium PATH]
       [--bench-map N]   also time the scatter map with N synthetic points (report only, no pass/fail)
Exit 0 when every check passed; 1 with one line per failure otherwise.
"""
import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket


class Page:
    def __init__(self, ws_url):
        self.ws = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self.next_id = 0
        self.errors = []

    def call(self, method, **params):
        self.next_id += 1
        wanted = self.next_id
        self.ws.send(json.dumps({"id": wanted, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == wanted:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.event(message)

    def event(self, message):
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("exception", {}).get("description") or details.get("text")
            self.errors.append(f"uncaught exception: {text}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            self.errors.append(f"console.{params['type']}: {args}")
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            self.errors.append(f"log: {entry.get('text')} {entry.get('url', '')}".strip())

    def pump(self, seconds):
        """Reads events for a while (console errors arrive asynchronously)."""
        end = time.time() + seconds
        self.ws.settimeout(0.1)
        try:
            while time.time() < end:
                try:
                    self.event(json.loads(self.ws.recv()))
                except websocket.WebSocketTimeoutException:
                    pass
        finally:
            self.ws.settimeout(60)

    def eval(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"evaluating {expression!r}: {result['exceptionDetails'].get('text')}")
        return result.get("result", {}).get("value")

    default_timeout = 20

    def wait_for(self, expression, timeout=None, what=None):
        end = time.time() + (timeout or self.default_timeout)
        while time.time() < end:
            try:
                value = self.eval(expression)
            except RuntimeError:
                value = None
            if value:
                return value
            self.pump(0.1)
        raise TimeoutError(f"timed out waiting for {what or expression}")

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", format="png")["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path

    def click(self, x, y):
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            extra = {"button": "left", "clickCount": 1} if kind != "mouseMoved" else {}
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, **extra)


# Builds a ScatterMap over N random points (two Gaussian blobs) on the page's canvas and times
# building its hit-testing grid, a full redraw and a click lookup.
BENCH_MAP = """(() => {
  const n = %d, index = new Array(n), x = new Float32Array(n), y = new Float32Array(n);
  let seed = 1; const random = () => (seed = (seed * 16807) %% 2147483647) / 2147483647;
  for (let i = 0; i < n; i++) {
    const r = Math.sqrt(-2 * Math.log(random() + 1e-12)), t = 2 * Math.PI * random();
    index[i] = i; x[i] = r * Math.cos(t) + (i %% 2 ? 4 : 0); y[i] = r * Math.sin(t);
  }
  const canvas = document.getElementById('map');
  let t0 = performance.now();
  const map = new ScatterMap(canvas, { key: 'bench', index, x, y });
  const build = performance.now() - t0;
  map.setColours('cluster');
  t0 = performance.now();
  for (let k = 0; k < 20; k++) { map.zoom *= 1.01; map.draw(); }
  const draw = (performance.now() - t0) / 20;
  t0 = performance.now();
  let found = 0;
  for (let k = 0; k < 1000; k++) if (map.pick(random() * canvas.width, random() * canvas.height, 8) >= 0) found++;
  const pick = (performance.now() - t0) / 1000;
  return { build, draw, pick, found, size: canvas.width + 'x' + canvas.height };
})()"""


def start_chromium(binary, profile):
    process = subprocess.Popen(
        [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
         "--disable-extensions", "--disable-dev-shm-usage", "--remote-debugging-port=0", f"--user-data-dir={profile}",
         "--window-size=1400,900", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port_file = os.path.join(profile, "DevToolsActivePort")
    end = time.time() + 30
    while time.time() < end:
        if os.path.exists(port_file):
            lines = open(port_file).read().split()
            if lines:
                return process, int(lines[0])
        if process.poll() is not None:
            raise RuntimeError(f"chromium exited with status {process.returncode}")
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("chromium did not open its DevTools port within 30 s")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--token")
    parser.add_argument("--bench-map", type=int, default=0)
    parser.add_argument("--try-marks", action="store_true",
                        help="click 'keep best' on the first cluster and check the marks (changes review_marks.csv)")
    parser.add_argument("--timeout", type=float, default=20, help="seconds to wait for each view")
    parser.add_argument("--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser") or "chromium")
    args = parser.parse_args()
    base = args.url.rstrip("/") + "/"
    os.makedirs(args.out, exist_ok=True)

    def get_json(path):
        request = urllib.request.Request(base + path.lstrip("/"))
        if args.token:
            request.add_header("X-Winnow-Token", args.token)
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    failures, passed = [], []

    def check(condition, message):
        (passed if condition else failures).append(message)

    page = None
    profile = tempfile.mkdtemp(prefix="winnow-chromium-")
    chromium, port = start_chromium(args.chromium, profile)
    try:
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10))
        page = Page(next(t for t in targets if t["type"] == "page")["webSocketDebuggerUrl"])
        page.default_timeout = args.timeout
        for domain in ("Page", "Runtime", "Log"):
            page.call(f"{domain}.enable")
        page.call("Emulation.setDeviceMetricsOverride", width=1400, height=900, deviceScaleFactor=1, mobile=False)
        if args.token:
            page.call("Page.navigate", url=base + "?token=" + args.token)
            page.pump(1)

        summary = get_json("api/summary")
        # Summary.
        page.call("Page.navigate", url=base + "#summary")
        page.wait_for("window.winnow && window.winnow.ready.summary", what="the summary view")
        shown = page.eval("document.querySelector('#summary-counts') ? document.querySelector('#summary-counts').innerText : ''")
        check(f"decoded images\t{summary['images']}" in shown, f"summary shows {summary['images']} decoded images")
        page.pump(0.5)
        page.screenshot(os.path.join(args.out, "summary.png"))

        # Grid: cards, real thumbnails, a filter, paging, sorting, a mark; the server pages and filters.
        page.call("Page.navigate", url=base + "#grid")
        page.wait_for("window.winnow.ready.grid", what="the grid view")
        cards = page.eval("document.querySelectorAll('#grid .card').length")
        check(cards == min(120, summary["images"]), f"grid shows {cards} cards (expected {min(120, summary['images'])})")
        loaded = page.wait_for("""(() => { const imgs = [...document.querySelectorAll('#grid img')].slice(0, 8);
            return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0); })()""", what="thumbnails to load")
        check(bool(loaded), "grid thumbnails load")
        samples = {}
        while len(samples) < summary["images"]:
            rows = get_json(f"api/samples?limit=1000&offset={len(samples)}")["rows"]
            samples.update((row["index"], row) for row in rows)
            if not rows:
                break
        check(len(samples) == summary["images"], f"/api/samples lists {len(samples)} images, the summary {summary['images']}")

        def show(controls, what):
            """Sets grid controls (id → value), fires their change and waits for the page the server sends."""
            before = int(page.eval("document.getElementById('grid').dataset.request || 0"))
            page.eval(f"""(() => {{ for (const [id, value] of Object.entries({json.dumps(controls)})) {{
                const c = document.getElementById(id); c.value = value; c.dispatchEvent(new Event('change')); }} }})()""")
            expected = page.eval("query(gridParams())")
            page.wait_for(f"(() => {{ const d = document.getElementById('grid').dataset;"
                          f" return Number(d.request) > {before} && d.query === {json.dumps(expected)}; }})()", what=what)
            return page.eval("[...document.querySelectorAll('#grid .card')].map(c => Number(c.dataset.index))")

        for issue, count in summary["issueCounts"].items():
            shown = show({"f-issue": issue}, f"the {issue} filter")
            text = page.eval("document.getElementById('grid-count').textContent")
            flagged = [i for i, row in samples.items() if issue in row["issues"]]
            check(len(shown) == min(count, 120) and sorted(shown) == sorted(flagged)[:120] and text.startswith(f"{count} of "),
                  f"issue filter {issue}: {len(shown)} cards for {count} images ({text!r})")
            break
        page.wait_for("""(() => { const imgs = [...document.querySelectorAll('#grid img')].slice(0, 8);
            return imgs.every(i => i.complete && i.naturalWidth > 0); })()""", timeout=60, what="filtered thumbnails to load")
        # Paging: 3 a page, a real click on "next" until the last page (at most 10); the pages together are
        # the images in order, each once.
        paged = show({"f-issue": "", "f-size": "3"}, "pages of 3")
        pages = 1
        while page.eval("(d => (Number(d.page) + 1) * 3 < Number(d.total))(document.getElementById('grid').dataset)") and pages < 10:
            button = page.eval("""(() => { const b = document.getElementById('next'); b.scrollIntoView({ block: 'center' });
                const r = b.getBoundingClientRect(); return {x: r.x + r.width / 2, y: r.y + r.height / 2}; })()""")
            page.click(button["x"], button["y"])
            page.wait_for(f"document.getElementById('grid').dataset.page === '{pages}'", what=f"page {pages + 1}")
            paged += page.eval("[...document.querySelectorAll('#grid .card')].map(c => Number(c.dataset.index))")
            pages += 1
        check(paged == list(samples)[:len(paged)] and pages == min(10, -(-len(samples) // 3)) and len(set(paged)) == len(paged),
              f"paging: {pages} pages of 3 show {len(paged)} of the {len(samples)} images once each, in order")
        # Sorting: least unique first, as /api/samples has the values.
        order = show({"f-size": "120", "f-sort": "uniqueness"}, "the uniqueness sort")
        values = [samples[i].get("uniqueness") for i in order if samples[i].get("uniqueness") is not None]
        check(len(values) > 1 and values == sorted(values), f"sort by uniqueness: {len(values)} cards in ascending order")
        page.screenshot(os.path.join(args.out, "grid.png"))
        # A mark from the detail panel: real clicks on a card and on "remove"; the mark filter finds it; "clear" takes it back.
        if args.try_marks:
            target = order[-1]

            def click_on(selector):
                where = page.eval(f"""(() => {{ const e = document.querySelector({json.dumps(selector)});
                    e.scrollIntoView({{ block: 'center' }}); const r = e.getBoundingClientRect();
                    return {{x: r.x + r.width / 2, y: r.y + r.height / 2}}; }})()""")
                page.click(where["x"], where["y"])

            click_on(f"#grid .card[data-index='{target}']")
            page.wait_for(f"document.getElementById('detail').dataset.index === '{target}'", what="the clicked card's details")
            click_on("#detail .marks button[data-mark='remove']")
            page.wait_for(f"document.querySelector(\"#grid .card[data-index='{target}']\").classList.contains('remove')",
                          what="the card to show its mark")
            marked = get_json("api/marks")
            removed = show({"f-mark": "remove"}, "the mark filter")
            click_on("#detail .marks button[data-mark='none']")
            page.wait_for("document.querySelector(\"#detail .marks button[data-mark='none']\").classList.contains('on')",
                          what="the mark to be cleared")
            check(marked == {str(target): "remove"} and removed == [target] and get_json("api/marks") == {},
                  f"grid mark: sample {target} marked remove ({marked}), found by the mark filter ({removed}), then cleared")
            show({"f-mark": ""}, "no mark filter")

        # Labels from annotations (label_scores.csv): the wrong-label sort, the filter, the badges.
        if summary.get("labelSource") == "annotations":
            scores = {i: (row.get("labelScores") or {}).get("wrongLabelScore") for i, row in samples.items()}
            order = show({"f-sort": "wrongLabelScore-desc"}, "the wrong-label sort")
            values = [scores[i] for i in order if scores.get(i) is not None]
            check(len(values) > 1 and values == sorted(values, reverse=True),
                  f"sort by wrong-label score: {len(values)} cards in descending order")
            labelled = sum(1 for v in scores.values() if v is not None)
            check(labelled > 0, f"{labelled} images have a wrong-label score")
            page.call("Page.navigate", url=base + "#summary")
            page.wait_for("!!document.getElementById('wrong-label-link')", what="the summary's wrong-label link")
            shown = page.eval("document.getElementById('summary-labels').innerText")
            check("Labels (annotations)" in shown and all(name in shown for name in summary["labels"]),
                  f"summary shows the annotation labels {sorted(summary['labels'])}")
            page.eval("document.getElementById('wrong-label-link').click()")
            page.wait_for("document.getElementById('grid').dataset.query === "
                          "'issue=likely_wrong_label&sort=wrongLabelScore&order=desc'", what="the likely-wrong-label filter")
            wrong = page.eval("document.querySelectorAll('#grid .card').length")
            check(wrong == min(120, summary["likelyWrongLabels"]),
                  f"likely-wrong-label filter: {wrong} cards for {summary['likelyWrongLabels']} flagged images")
            if wrong:
                badge = page.eval("document.querySelector('#grid .card .badge.suggested') ? "
                                  "document.querySelector('#grid .card .badge.suggested').textContent : ''")
                check(badge.startswith("→ "), f"a flagged card shows its suggested label ({badge!r})")
            page.screenshot(os.path.join(args.out, "labels.png"))

        # Clusters.
        page.call("Page.navigate", url=base + "#clusters")
        page.wait_for("window.winnow.ready.clusters", what="the clusters view")
        clusters = page.eval("document.querySelectorAll('#clusters .cluster').length")
        page.wait_for("""[...document.querySelectorAll('#clusters img')].slice(0, 8).every(i => i.complete && i.naturalWidth > 0)""",
                      timeout=60, what="cluster thumbnails to load")
        check(clusters == min(40, summary["components"]), f"clusters view lists {clusters} of {summary['components']} groups")
        page.screenshot(os.path.join(args.out, "clusters.png"))
        if args.try_marks and clusters:
            members = page.eval("[...document.querySelectorAll('#clusters .cluster')[0].querySelectorAll('.card')]"
                                ".map(c => Number(c.dataset.index))")
            button = page.eval("""(() => { const r = document.querySelector('#clusters .cluster button').getBoundingClientRect();
                return {x: r.left + r.width / 2, y: r.top + r.height / 2}; })()""")
            page.click(button["x"], button["y"])
            page.wait_for(f"document.querySelectorAll('#clusters .cluster')[0].querySelectorAll('.card.remove').length === {len(members) - 1}",
                          what="the cluster's cards to show their marks")
            marks = get_json("api/marks")
            check(sorted(int(k) for k in marks) == sorted(members) and list(marks.values()).count("keep") == 1,
                  f"'keep best' marked cluster {members}: {marks}")

        # Map: a real click on a point opens its neighbours.
        if summary["maps"]:
            page.call("Page.navigate", url=base + "#map")
            page.wait_for("!!(window.winnow.ready.map && window.winnow.mapPoint)", what="the map view")
            points = get_json("api/maps/" + summary["maps"][0])
            check(len(points["index"]) > 0, f"map {summary['maps'][0]} has {len(points['index'])} points")
            target = next((i for i in points["index"] if get_json(f"api/neighbors/{i}?k=12")["neighbors"]), None)
            check(target is not None, "some map point has neighbours")
            if target is not None:
                where = page.eval(f"window.winnow.mapPoint({target})")
                page.click(where["x"], where["y"])
                page.wait_for("document.getElementById('d-neighbors').dataset.for", what="neighbours after the click")
                selected = int(page.eval("document.getElementById('detail').dataset.index"))
                spot = page.eval(f"window.winnow.mapPoint({selected})")
                distance = ((spot["x"] - where["x"]) ** 2 + (spot["y"] - where["y"]) ** 2) ** 0.5
                check(distance <= 8, f"the click selected sample {selected}, {distance:.1f} px from the click")
                shown = page.eval("[...document.querySelectorAll('#d-neighbors .neighbor')].map(n => Number(n.dataset.index))")
                expected = [n["index"] for n in get_json(f"api/neighbors/{selected}?k=12")["neighbors"]]
                check(shown == expected and len(shown) > 0, f"neighbours shown {shown} = /api/neighbors {expected}")
                page.wait_for("(() => { const i = document.getElementById('d-image'); return i.complete && i.naturalWidth > 0; })()",
                              what="the clicked image to load")
                page.wait_for("[...document.querySelectorAll('#d-neighbors img')].slice(0, 6).every(i => i.complete && i.naturalWidth > 0)",
                              timeout=60, what="the neighbours' thumbnails to load")
                # "not a copy" on the first neighbour: a real click records the decision in the catalog.
                if args.try_marks:
                    button = page.eval("(() => { const b = document.querySelector('#d-neighbors .neighbor .not-copy');"
                                       " b.scrollIntoView({ block: 'center' }); const r = b.getBoundingClientRect();"
                                       " return { x: r.x + r.width / 2, y: r.y + r.height / 2 }; })()")
                    page.click(button["x"], button["y"])
                    page.wait_for("!!document.querySelector('#d-neighbors .neighbor.marked-not-copy')", what="the not-a-copy mark")
                    pair = sorted([selected, shown[0]])
                    recorded = [d["samples"] for d in get_json("api/decisions") if d["kind"] == "not_copy"]
                    check(pair in recorded and int(page.eval("document.getElementById('detail').dataset.index")) == selected,
                          f"'not a copy' recorded the pair {pair} ({recorded})")
                page.pump(0.5)
                page.screenshot(os.path.join(args.out, "map.png"))
        else:
            failures.append("the work_dir has no maps/*.csv: the map click cannot be checked")

        if args.bench_map:
            page.call("Page.navigate", url=base + "#map")
            page.wait_for("!!window.winnow.ready.map", what="the map view")
            timing = page.eval(BENCH_MAP % args.bench_map)
            print(f"map bench: {args.bench_map} points: build {timing['build']:.1f} ms, draw {timing['draw']:.1f} ms "
                  f"(mean of 20), pick {timing['pick'] * 1000:.1f} µs (mean of 1000), canvas {timing['size']}")
            page.screenshot(os.path.join(args.out, "map-bench.png"))

        # Galleries written by `winnow gallery`, served from the work_dir: linked from the summary,
        # rendered with their pictures.
        if not summary["galleries"]:
            failures.append("the work_dir has no galleries/*.html: run `winnow gallery WORK_DIR` first")
        page.call("Page.navigate", url=base + "#summary")
        page.wait_for("window.winnow.ready.summary", what="the summary view")
        linked = page.eval("[...document.querySelectorAll('a.gallery-link')].map(a => a.getAttribute('href'))") or []
        for name in summary["galleries"]:
            href = "/files/galleries/" + name + ".html"
            check(href in linked, f"the summary links gallery {name}")
            page.call("Page.navigate", url=base + href.lstrip("/"))
            page.wait_for("document.readyState === 'complete'", what=f"gallery {name}")
            text = page.eval("document.body ? document.body.innerText.length : 0")
            check(text > 0, f"gallery {name} renders ({text} characters of text)")
            images = page.wait_for("""(() => { const imgs = [...document.querySelectorAll('img')].slice(0, 12);
                return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0) ? imgs.length : 0; })()""",
                                   what=f"the pictures of gallery {name}")
            check(images > 0, f"gallery {name} shows {images} pictures")
            page.pump(0.5)
            page.screenshot(os.path.join(args.out, f"gallery-{name}.png"))

    except Exception as error:  # a broken page shows up here (timeouts, missing elements)
        failures.append(f"{type(error).__name__}: {error}")
    finally:
        if page is not None:
            try:
                page.pump(0.5)
            except Exception as error:
                failures.append(f"reading browser events: {error}")
            for error in page.errors:
                failures.append(f"browser error: {error}")
            check(not page.errors, "no console errors")
        chromium.terminate()
        try:
            chromium.wait(timeout=10)
        except subprocess.TimeoutExpired:
            chromium.kill()
        shutil.rmtree(profile, ignore_errors=True)

    for message in failures:
        print(f"FAIL {message}")
    for message in passed:
        print(f"ok   {message}")
    print(f"browser check: {len(passed)} passed, {len(failures)} failed; screenshots in {args.out}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
