import Foundation

/// One entry of a gallery: a group of images shown together (a duplicate pair, an outlier and
/// its nearest neighbour, a component's members, a query and its neighbours…).
public struct GalleryCard: Sendable, Encodable, Equatable {
    public var title: String
    /// Label–value lines under the title.
    public var fields: [[String]]
    public var images: [GalleryImage]
    /// What `--slice` and the page's filter match: the images' labels and splits.
    public var tags: [String]

    public init(title: String, fields: [[String]], images: [GalleryImage], tags: [String] = []) {
        self.title = title
        self.fields = fields
        self.images = images
        self.tags = tags
    }
}

/// One image of a card.
public struct GalleryImage: Sendable, Encodable, Equatable {
    public var index: Int64
    public var filename: String
    public var caption: String
    public var label: String?
    /// Boxes as fractions of the image, `[x, y, width, height, label]`.
    public var boxes: [GalleryBox]
    /// Filled in when the page is written: a `data:` URI or a path relative to the page; empty
    /// when no thumbnail could be made.
    public var src: String = ""

    public init(index: Int64, filename: String, caption: String, label: String? = nil, boxes: [GalleryBox] = []) {
        self.index = index
        self.filename = filename
        self.caption = caption
        self.label = label
        self.boxes = boxes
    }
}

/// A bounding box in fractions of the image's width and height.
public struct GalleryBox: Sendable, Encodable, Equatable {
    public var x: Double, y: Double, width: Double, height: Double
    public var label: String
}

/// Renders a self-contained HTML page: the cards travel as JSON inside the page and a small
/// script shows one page of them at a time (pagination + filter), so a gallery of 10,000
/// cards opens as fast as one of 20. Every string reaches the DOM through `textContent` or
/// attribute setters, never as markup; the JSON is escaped for a `<script>` element.
enum GalleryPage {
    static func html(title: String, subtitle: String, cards: [GalleryCard], pageSize: Int = 48) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let json = String(decoding: try encoder.encode(cards), as: UTF8.self)
        return [head(title: title), controls(title: title, subtitle: subtitle, json: json, pageSize: pageSize),
                figureScript, renderScript].joined(separator: "\n")
    }

    /// The page's head: document metadata and the style sheet, up to the opening `<body>`.
    private static func head(title: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="generator" content="Winnow \(Winnow.version)">
        <title>\(escape(title))</title><link rel="icon" href="data:,">
        <style>
        body{font:14px system-ui,sans-serif;margin:0;background:#f4f4f5;color:#18181b}
        header{background:#18181b;color:#fafafa;padding:12px 20px}
        header h1{font-size:18px;margin:0 0 4px}header p{margin:0;color:#a1a1aa}
        nav{display:flex;gap:8px;align-items:center;padding:10px 20px;background:#fff;border-bottom:1px solid #e4e4e7;position:sticky;top:0}
        nav input{padding:4px 8px;min-width:220px}nav button{padding:4px 10px}
        main{display:flex;flex-wrap:wrap;gap:12px;padding:16px 20px}
        .card{background:#fff;border:1px solid #e4e4e7;border-radius:6px;padding:8px;max-width:100%}
        .card h2{font-size:13px;margin:0 0 4px}.fields{font-size:12px;color:#52525b;margin-bottom:6px}
        .images{display:flex;flex-wrap:wrap;gap:6px}
        figure{margin:0;width:\(thumbnailBox)px}
        .frame{position:relative;width:\(thumbnailBox)px;height:\(thumbnailBox)px;background:#e4e4e7;display:flex;align-items:center;justify-content:center}
        .frame img{max-width:100%;max-height:100%;display:block}
        .inner{position:relative}
        .box{position:absolute;border:2px solid #f97316;box-sizing:border-box}
        .box span{position:absolute;top:-16px;left:-2px;background:#f97316;color:#fff;font-size:10px;padding:0 3px;white-space:nowrap}
        figcaption{font-size:11px;color:#3f3f46;word-break:break-all;margin-top:3px}
        .label{display:inline-block;background:#dbeafe;color:#1e3a8a;border-radius:3px;padding:0 4px;margin-top:2px}
        .missing{font-size:11px;color:#71717a;padding:4px;text-align:center}
        </style></head><body>
        """
    }

    /// The header, navigation and card container, the cards' JSON and the start of the script.
    private static func controls(title: String, subtitle: String, json: String, pageSize: Int) -> String {
        """
        <header><h1>\(escape(title))</h1><p>\(escape(subtitle))</p></header>
        <nav><input id="filter" type="search" placeholder="filter by file name or label">
        <button id="prev">◀</button><span id="status"></span><button id="next">▶</button></nav>
        <main id="cards"></main>
        <script type="application/json" id="data">\(scriptSafe(json))</script>
        <script>
        "use strict";
        const all = JSON.parse(document.getElementById("data").textContent);
        const pageSize = \(pageSize);
        let shown = all, page = 0;
        const cardsEl = document.getElementById("cards"), statusEl = document.getElementById("status");
        function el(tag, cls, text) { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; }
        """
    }

    /// The script's `figure` function: one image with its boxes, caption and label.
    private static let figureScript = """
        function figure(im) {
          const f = el("figure"), frame = el("div", "frame");
          if (im.src) {
            const inner = el("div", "inner"), img = el("img");
            img.loading = "lazy"; img.decoding = "async"; img.alt = im.filename; img.src = im.src;
            inner.appendChild(img);
            for (const b of im.boxes) {
              const d = el("div", "box");
              d.style.left = (100 * b.x) + "%"; d.style.top = (100 * b.y) + "%";
              d.style.width = (100 * b.width) + "%"; d.style.height = (100 * b.height) + "%";
              if (b.label) d.appendChild(el("span", "", b.label));
              inner.appendChild(d);
            }
            frame.appendChild(inner);
          } else {
            frame.appendChild(el("div", "missing", "no preview"));
          }
          f.appendChild(frame);
          const cap = el("figcaption", "", im.caption);
          cap.title = im.filename;
          f.appendChild(cap);
          if (im.label) f.appendChild(el("span", "label", im.label));
          return f;
        }
        """

    /// The script's rendering, filtering and paging, and the end of the page (with its final newline).
    private static let renderScript = """
        function render() {
          const pages = Math.max(1, Math.ceil(shown.length / pageSize));
          page = Math.min(Math.max(page, 0), pages - 1);
          cardsEl.replaceChildren();
          for (const c of shown.slice(page * pageSize, (page + 1) * pageSize)) {
            const card = el("section", "card");
            card.appendChild(el("h2", "", c.title));
            const fields = el("div", "fields");
            fields.textContent = c.fields.map(f => f[0] + ": " + f[1]).join(" · ");
            card.appendChild(fields);
            const images = el("div", "images");
            for (const im of c.images) images.appendChild(figure(im));
            card.appendChild(images);
            cardsEl.appendChild(card);
          }
          statusEl.textContent = shown.length + " of " + all.length + " · page " + (page + 1) + " / " + pages;
        }
        document.getElementById("filter").addEventListener("input", e => {
          const q = e.target.value.toLowerCase();
          shown = q ? all.filter(c => c.title.toLowerCase().includes(q) || c.tags.some(t => t.toLowerCase().includes(q))
            || c.images.some(im => im.filename.toLowerCase().includes(q))) : all;
          page = 0; render();
        });
        document.getElementById("prev").addEventListener("click", () => { page--; render(); });
        document.getElementById("next").addEventListener("click", () => { page++; render(); });
        render();
        </script></body></html>

        """

    static let thumbnailBox = 160

    /// Text for HTML element content and quoted attributes.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    /// JSON made safe inside `<script>`: no `<` (so no `</script>` or `<!--`), no U+2028/9.
    static func scriptSafe(_ json: String) -> String {
        json.replacingOccurrences(of: "<", with: "\\u003c")
            .replacingOccurrences(of: "\u{2028}", with: "\\u2028")
            .replacingOccurrences(of: "\u{2029}", with: "\\u2029")
    }
}
