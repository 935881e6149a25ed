import Foundation

/// Finds a photo turned inside a frame whose corners were filled with one colour — what rotating
/// an image leaves on its canvas: a uniform right triangle at each corner — and makes the upright
/// view of its content, so that the copy descriptor also sees the photo as its original shows it
/// (issue 19: such copies were nowhere among their original's global neighbours).
///
/// Detection, on a copy reduced by area averaging to about `analysisSide` pixels on the short side:
/// 1. the four corner pixels share one colour (the fill), within `tolerance` on every channel;
/// 2. at each corner the fill runs `a` pixels along the horizontal edge and `b` along the
///    vertical one, each between `minimumLegFraction` and `maximumLegFraction` of its side (a
///    plain background all along an edge is no triangle);
/// 3. the triangle's third side is straight: the fill's run along each row shrinks linearly
///    with the row's depth (not the arc of a round object on a plain background);
/// 4. each triangle's third side is a content edge, at `atan(b / a)` (top right, bottom left) or
///    `90° − atan(b / a)` (top left, bottom right) modulo 90°; the four agree within
///    `maximumAngleSpread` and lie `minimumAngle` or more from an axis.
/// The upright view turns the image back by that angle (folded into ±45°) and keeps the largest
/// rectangle, about the content's centre, that lies inside the content (the image without the
/// four triangles).
public struct PaddedRotation: Sendable, Equatable, Codable {
    /// Largest per-channel difference (0…255) from the fill colour that still counts as fill.
    public var tolerance: Int = 12
    /// Short side of the reduced copy the corners are measured on.
    public var analysisSide: Int = 192
    /// A triangle's legs are at least this share of their side (and 3 pixels of the reduced copy)…
    public var minimumLegFraction: Double = 0.03
    /// …and at most this share.
    public var maximumLegFraction: Double = 0.95
    /// The four corners' angles agree within this many degrees.
    public var maximumAngleSpread: Double = 6
    /// Turns closer than this (degrees) to an axis are left alone (a frame's own edge noise).
    public var minimumAngle: Double = 5
    /// Long side of the upright view at most (it is resized to the model's input anyway).
    public var viewSide: Int = 448

    public init() {}

    /// Names the method and its settings (part of the copy descriptor's identity).
    public var identity: String {
        "/upright\(tolerance)/\(analysisSide)/\(minimumLegFraction)/\(maximumLegFraction)/\(maximumAngleSpread)/"
            + "\(minimumAngle)/\(viewSide)"
    }

    /// What was found: the content's turn in degrees (image coordinates, y down, folded into
    /// ±45°: turning by `-angle` makes its edges upright) and the fill's legs at each corner, in
    /// pixels of the image (top left, top right, bottom right, bottom left; `a` horizontal).
    public struct Found: Sendable {
        public var angle: Double
        public var legs: [(a: Double, b: Double)]
    }

    /// The turn of `image`'s content inside a padded frame, or nil when it has no such frame.
    public func detect(in image: RGBImage) -> Found? {
        guard cornersAgree(image) else { return nil }
        let block = max(1, min(image.width, image.height) / max(analysisSide, 16))
        let reduced = block == 1 ? image : BorderTrim.reduced(image, block: block)
        guard reduced.width >= 16, reduced.height >= 16 else { return nil }
        return reduced.pixels.withUnsafeBufferPointer { pixels -> Found? in
            let corners = CornerRuns(pixels: pixels, width: reduced.width, height: reduced.height, tolerance: tolerance)
            guard let fill = corners.fill else { return nil }
            var legs: [(a: Double, b: Double)] = []
            var angles: [Double] = []
            for corner in 0..<4 {
                guard let (a, b) = corners.legs(corner, fill: fill, minimum: minimumLegFraction,
                                                maximum: maximumLegFraction) else { return nil }
                let t = atan2(Double(b), Double(a)) * 180 / .pi
                angles.append(corner % 2 == 0 ? 90 - t : t)
                legs.append((Double(a * block), Double(b * block)))
            }
            angles.sort()
            let middle = (angles[1] + angles[2]) / 2
            guard angles[3] - angles[0] <= maximumAngleSpread,
                  middle >= minimumAngle, middle <= 90 - minimumAngle else { return nil }
            return Found(angle: middle <= 45 ? middle : middle - 90, legs: legs)
        }
    }

    /// Whether the image's four corner pixels share a colour (within twice the tolerance: the
    /// image is not averaged yet) — a test on four pixels that most photos fail, before the
    /// pass over all pixels that reducing takes.
    func cornersAgree(_ image: RGBImage) -> Bool {
        guard image.width > 0, image.height > 0 else { return false }
        let corners = [0, image.width - 1, (image.height - 1) * image.width, image.height * image.width - 1].map { $0 * 3 }
        return corners.dropFirst().allSatisfy { p in
            (0..<3).allSatisfy { abs(Int(image.pixels[p + $0]) - Int(image.pixels[corners[0] + $0])) <= 2 * tolerance }
        }
    }

    /// The upright view of `image`'s content when it is a photo turned inside a padded frame.
    public func uprightView(of image: RGBImage) -> RGBImage? {
        guard let found = detect(in: image) else { return nil }
        let block = max(1, max(image.width, image.height) / viewSide)
        let source = block == 1 ? image : BorderTrim.reduced(image, block: block)
        let scale = 1 / Double(block)
        let geometry = UprightGeometry(width: Double(image.width) * scale, height: Double(image.height) * scale,
                                       angle: found.angle, legs: found.legs.map { ($0.a * scale, $0.b * scale) })
        return geometry.view(of: source)
    }
}

/// Fill runs from the corners of a reduced image; only used inside the `withUnsafeBufferPointer`
/// call that provides `pixels`.
private struct CornerRuns {
    let pixels: UnsafeBufferPointer<UInt8>
    let width: Int
    let height: Int
    let tolerance: Int

    /// Corner `i` (0 top left, 1 top right, 2 bottom right, 3 bottom left) as a pixel and the
    /// steps inwards along its row and its column.
    func corner(_ i: Int) -> (x: Int, y: Int, dx: Int, dy: Int) {
        switch i {
        case 0: (0, 0, 1, 1)
        case 1: (width - 1, 0, -1, 1)
        case 2: (width - 1, height - 1, -1, -1)
        default: (0, height - 1, 1, -1)
        }
    }

    func colour(_ x: Int, _ y: Int) -> (Int, Int, Int) {
        let p = (y * width + x) * 3
        return (Int(pixels[p]), Int(pixels[p + 1]), Int(pixels[p + 2]))
    }

    func isFill(_ x: Int, _ y: Int, _ fill: (Int, Int, Int)) -> Bool {
        let c = colour(x, y)
        return abs(c.0 - fill.0) <= tolerance && abs(c.1 - fill.1) <= tolerance && abs(c.2 - fill.2) <= tolerance
    }

    /// The corners' common colour, if all four have one.
    var fill: (Int, Int, Int)? {
        let first = corner(0)
        let fill = colour(first.x, first.y)
        return (1..<4).allSatisfy { let c = corner($0); return isFill(c.x, c.y, fill) } ? fill : nil
    }

    /// Fill pixels from `(x, y)` stepping by `(dx, dy)`, up to `limit`; one stray pixel (JPEG
    /// noise) does not end the run, two in a row do.
    func run(x: Int, y: Int, dx: Int, dy: Int, limit: Int, fill: (Int, Int, Int)) -> Int {
        var n = 0
        while n < limit {
            if isFill(x + n * dx, y + n * dy, fill) { n += 1; continue }
            guard n + 1 < limit, isFill(x + (n + 1) * dx, y + (n + 1) * dy, fill) else { break }
            n += 2
        }
        return n
    }

    /// The legs (horizontal, vertical) of corner `i`'s fill triangle when it is one: both within
    /// their bounds, and its third side straight (to within 2.5 % of the horizontal leg, and
    /// 0.75 pixel). The legs are measured `inset` lines in from the edges: a photo turned on a
    /// canvas enlarged to hold it touches each edge at one point only, so the outermost line may
    /// be fill all along.
    func legs(_ i: Int, fill: (Int, Int, Int), minimum: Double, maximum: Double, inset: Int = 2) -> (Int, Int)? {
        let c = corner(i)
        let a = run(x: c.x, y: c.y + c.dy * inset, dx: c.dx, dy: 0, limit: width, fill: fill)
        let b = run(x: c.x + c.dx * inset, y: c.y, dx: 0, dy: c.dy, limit: height, fill: fill)
        func fits(_ leg: Int, _ side: Int) -> Bool {
            leg >= max(3, Int(minimum * Double(side))) && Double(leg) <= maximum * Double(side)
        }
        guard fits(a, width), fits(b, height) else { return nil }
        return isStraight(corner: c, rows: inset..<b, fill: fill, tolerance: max(0.75, 0.025 * Double(a))) ? (a, b) : nil
    }

    /// Whether the fill's runs along the triangle's `rows` (counted from the corner) shrink
    /// linearly (root-mean-square distance from the fitted line at most `tolerance` pixels): a
    /// straight edge, not the arc of a round object on a plain background.
    func isStraight(corner c: (x: Int, y: Int, dx: Int, dy: Int), rows: Range<Int>, fill: (Int, Int, Int),
                    tolerance: Double) -> Bool {
        let step = max(1, rows.count / 16)
        let points = stride(from: rows.lowerBound, to: rows.upperBound, by: step).map { d in
            (Double(d), Double(run(x: c.x, y: c.y + c.dy * d, dx: c.dx, dy: 0, limit: width, fill: fill)))
        }
        guard points.count >= 3 else { return false }
        let n = Double(points.count)
        let (meanX, meanY) = (points.map(\.0).reduce(0, +) / n, points.map(\.1).reduce(0, +) / n)
        let sxx = points.reduce(0) { $0 + ($1.0 - meanX) * ($1.0 - meanX) }
        let slope = points.reduce(0) { $0 + ($1.0 - meanX) * ($1.1 - meanY) } / max(sxx, 1e-9)
        let squares = points.reduce(0) { $0 + pow($1.1 - meanY - slope * ($1.0 - meanX), 2) }
        return slope < 0 && (squares / n).squareRoot() <= tolerance
    }
}

/// Where the upright content of a turned, padded image lies, in the image's pixels.
private struct UprightGeometry {
    /// The content polygon (the image without its four corner triangles), clockwise.
    let polygon: [SIMD2<Double>]
    let centre: SIMD2<Double>
    /// Turns a point of the image about `centre` by `-angle`: upright coordinates.
    let cosine: Double
    let sine: Double

    init(width: Double, height: Double, angle: Double, legs: [(a: Double, b: Double)]) {
        polygon = [
            SIMD2(legs[0].a, 0), SIMD2(width - legs[1].a, 0), SIMD2(width, legs[1].b),
            SIMD2(width, height - legs[2].b), SIMD2(width - legs[2].a, height), SIMD2(legs[3].a, height),
            SIMD2(0, height - legs[3].b), SIMD2(0, legs[0].b),
        ]
        centre = SIMD2(width / 2, height / 2)
        cosine = cos(-angle * .pi / 180)
        sine = sin(-angle * .pi / 180)
    }

    func upright(_ p: SIMD2<Double>) -> SIMD2<Double> {
        let d = p - centre
        return centre + SIMD2(cosine * d.x - sine * d.y, sine * d.x + cosine * d.y)
    }

    func back(_ q: SIMD2<Double>) -> SIMD2<Double> {
        let d = q - centre
        return centre + SIMD2(cosine * d.x + sine * d.y, -sine * d.x + cosine * d.y)
    }

    /// Whether the upright point `q` lies inside the content.
    func contains(_ q: SIMD2<Double>) -> Bool {
        let p = back(q)
        for i in polygon.indices {
            let (u, v) = (polygon[i], polygon[(i + 1) % polygon.count])
            if (v.x - u.x) * (p.y - u.y) - (v.y - u.y) * (p.x - u.x) < -1e-9 { return false }
        }
        return true
    }

    /// The upright content's largest rectangle about the centre of its bounding box, shrunk
    /// from that box until its corners lie inside the content: (origin, size).
    func rectangle() -> (origin: SIMD2<Double>, size: SIMD2<Double>) {
        let turned = polygon.map(upright)
        let low = turned.reduce(SIMD2(Double.infinity, .infinity)) { pointwiseMin($0, $1) }
        let high = turned.reduce(SIMD2(-Double.infinity, -.infinity)) { pointwiseMax($0, $1) }
        let (middle, half) = ((low + high) / 2, (high - low) / 2)
        func fits(_ s: Double) -> Bool {
            [SIMD2(-1.0, -1), SIMD2(1, -1), SIMD2(1, 1), SIMD2(-1, 1)].allSatisfy { contains(middle + $0 * half * s) }
        }
        var (inside, outside) = (0.0, 1.0)
        if fits(1) { inside = 1 }
        for _ in 0..<20 where inside < outside - 1e-3 {
            let s = (inside + outside) / 2
            if fits(s) { inside = s } else { outside = s }
        }
        return (middle - half * inside, half * 2 * inside)
    }

    /// The upright rectangle of `image` (the same pixels this geometry measures), sampled bilinearly.
    func view(of image: RGBImage) -> RGBImage? {
        let (origin, size) = rectangle()
        let (w, h) = (Int(size.x), Int(size.y))
        guard w >= 8, h >= 8 else { return nil }
        var out = [UInt8](repeating: 0, count: w * h * 3)
        image.pixels.withUnsafeBufferPointer { source in
            for y in 0..<h {
                for x in 0..<w {
                    let p = back(origin + SIMD2(Double(x) + 0.5, Double(y) + 0.5)) - 0.5
                    let u = min(max(p.x, 0), Double(image.width - 1)), v = min(max(p.y, 0), Double(image.height - 1))
                    let (x0, y0) = (Int(u), Int(v))
                    let (x1, y1) = (min(x0 + 1, image.width - 1), min(y0 + 1, image.height - 1))
                    let (fx, fy) = (u - Double(x0), v - Double(y0))
                    for k in 0..<3 {
                        func at(_ x: Int, _ y: Int) -> Double { Double(source[(y * image.width + x) * 3 + k]) }
                        let top = at(x0, y0) + (at(x1, y0) - at(x0, y0)) * fx
                        let bottom = at(x0, y1) + (at(x1, y1) - at(x0, y1)) * fx
                        out[(y * w + x) * 3 + k] = UInt8(min(255, max(0, (top + (bottom - top) * fy).rounded())))
                    }
                }
            }
        }
        return RGBImage(width: w, height: h, pixels: out)
    }
}
