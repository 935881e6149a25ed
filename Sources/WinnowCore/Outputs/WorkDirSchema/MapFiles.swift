import Foundation

/// The map files of a work_dir (`winnow visualize`): `maps/KEY.csv` holds one row per embedded
/// sample, `index,filename` and then as many coordinate columns as the map has dimensions
/// (`x`, `y`, `z`, `d3`, `d4`, …); `maps/KEY.json` describes how it was made. The columns depend
/// on the map, so the rows are written and read here rather than through a fixed row type.
public enum MapFiles {
    /// The folder of the maps inside a work_dir.
    public static let folderName = "maps"

    /// The columns that name the sample, before the coordinates.
    static let sampleColumns = ["index", "filename"]

    /// The header of a map with `dimensions` coordinates.
    public static func columns(dimensions: Int) -> [String] {
        sampleColumns + (0..<dimensions).map { $0 < 3 ? ["x", "y", "z"][$0] : "d\($0)" }
    }

    public static func folder(in workDirectory: URL) -> URL { workDirectory.appendingPathComponent(folderName) }
    public static func pointsURL(key: String, in workDirectory: URL) -> URL {
        folder(in: workDirectory).appendingPathComponent("\(key).csv")
    }
    public static func infoURL(key: String, in workDirectory: URL) -> URL {
        folder(in: workDirectory).appendingPathComponent("\(key).json")
    }

    /// The text of `maps/KEY.csv`: a row per sample, coordinates with six decimals.
    static func pointsText(ids: [Int64], filenames: [String], points: [Float], dimensions: Int) -> String {
        var table = CSVTable(header: columns(dimensions: dimensions))
        for row in ids.indices {
            var fields = [String(ids[row]), filenames[row]]
            for k in 0..<dimensions { fields.append(decimal(Double(points[row * dimensions + k]), 6)) }
            table.append(fields)
        }
        return table.contents
    }

    /// The rows of the map file at `url` (its text given), or why they cannot be read (with the line).
    static func readPoints(_ text: String, of url: URL) throws(MapError)
        -> (ids: [Int64], filenames: [String], points: [Float], dimensions: Int) {
        var lines = text.split(whereSeparator: \.isNewline)
        guard !lines.isEmpty else { throw .unreadable(url.path, "empty file") }
        let header = CSVReader.fields(lines.removeFirst()) ?? []
        let dimensions = header.count - sampleColumns.count
        guard dimensions >= 1, header.first == sampleColumns[0] else { throw .unreadable(url.path, "line 1: not a map header") }
        var ids: [Int64] = [], names: [String] = [], points: [Float] = []
        for (number, line) in lines.enumerated() {
            guard let fields = CSVReader.fields(line), fields.count == header.count, let id = Int64(fields[0]) else {
                throw .unreadable(url.path, "line \(number + 2): expected \(header.count) fields")
            }
            let values = fields[sampleColumns.count...].compactMap { Float($0) }
            guard values.count == dimensions else { throw .unreadable(url.path, "line \(number + 2): not numbers") }
            ids.append(id)
            names.append(fields[1])
            points += values
        }
        return (ids, names, points, dimensions)
    }
}
