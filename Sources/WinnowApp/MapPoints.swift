import Foundation

/// A 2-D map written by `winnow visualize` (`maps/KEY.csv`: `index,filename,x,y[,z,…]`, and
/// `maps/KEY.json` with its method and parameters), as parallel arrays for the scatter view,
/// with the points' colour groups (``SampleFinder/colours(of:)``) once the app adds them.
/// Rows whose index is not a decoded sample of the work_dir, or whose coordinates are not
/// finite numbers, are skipped and counted.
struct MapPoints: Encodable {
    var key: String
    var method: String?
    var index: [Int64] = []
    var x: [Float] = []
    var y: [Float] = []
    var skipped = 0
    /// Per "colour by" choice (label, issue, split, cluster, wrong), each point's group.
    var colours: [String: PointColours] = [:]

    static func load(key: String, directory: URL, rows: [Int64: Int]) throws -> MapPoints {
        let folder = directory.appendingPathComponent("maps")
        var map = MapPoints(key: key)
        if let meta = try? Data(contentsOf: folder.appendingPathComponent(key + ".json")),
           let object = try? JSONSerialization.jsonObject(with: meta) as? [String: Any] {
            map.method = object["method"] as? String
        }
        guard let records = try CSV.records(at: folder.appendingPathComponent(key + ".csv")) else {
            throw AppError.unreadable("maps/\(key).csv", "missing")
        }
        for r in records {
            guard let id = Int64(r["index"] ?? ""), rows[id] != nil, let x = Float(r["x"] ?? ""), let y = Float(r["y"] ?? ""),
                  x.isFinite, y.isFinite else {
                map.skipped += 1
                continue
            }
            map.index.append(id); map.x.append(x); map.y.append(y)
        }
        return map
    }
}
