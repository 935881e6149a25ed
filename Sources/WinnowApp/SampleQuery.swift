import Foundation
import Hummingbird
import WinnowCore

/// A request's query parameters by name, checked against the names an endpoint takes: an unknown
/// name or a name given twice is a 400 with one line. An empty value counts as not given.
struct QueryParameters {
    private var values: [String: String] = [:]

    init(_ request: Request, allowed: [String]) throws(HTTPError) {
        for (key, value) in request.uri.queryParameters {
            let name = String(key)
            guard allowed.contains(name) else {
                let names = allowed.joined(separator: ", ")
                throw HTTPError(.badRequest, message: "unknown parameter \(Self.shown(name)) (this address takes \(names))")
            }
            guard values[name] == nil else { throw HTTPError(.badRequest, message: "parameter \(name) is given twice") }
            values[name] = String(value)
        }
    }

    /// The value of `name`, nil when it is absent or empty.
    subscript(name: String) -> String? {
        values[name].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// `text` as an answer may quote it: at most 40 characters, control characters as `?`, so that
    /// the answer stays one line.
    static func shown(_ text: String) -> String {
        String(text.unicodeScalars.prefix(40).map { $0.properties.generalCategory == .control ? "?" : Character($0) })
    }

    /// The value of `name` made by `parse`; nil when absent, a 400 saying `rule` when `parse` gives nil.
    func value<Value>(_ name: String, _ rule: String, _ parse: (String) -> Value?) throws(HTTPError) -> Value? {
        guard let text = self[name] else { return nil }
        guard let value = parse(text) else { throw HTTPError(.badRequest, message: rule) }
        return value
    }

    /// A whole number in `range`, or `fallback` when absent; a 400 "NAME must be …" otherwise.
    func integer(_ name: String, in range: ClosedRange<Int>, default fallback: Int) throws(HTTPError) -> Int {
        let rule = range.upperBound == .max ? "\(name) must be a whole number ≥ \(range.lowerBound)"
            : "\(name) must be \(range.lowerBound)–\(range.upperBound)"
        return try value(name, rule) { Int($0).flatMap { range.contains($0) ? $0 : nil } } ?? fallback
    }
}

/// `offset` (default 0) and `limit` of a paged list.
struct Paging: Sendable, Equatable {
    var offset: Int
    var limit: Int

    /// The names a paged address takes.
    static let parameterNames = ["offset", "limit"]

    /// Reads `offset` (≥ 0) and `limit` (1–`maxLimit`, default `defaultLimit`).
    init(_ parameters: QueryParameters, defaultLimit: Int, maxLimit: Int) throws(HTTPError) {
        offset = try parameters.integer("offset", in: 0...Int.max, default: 0)
        limit = try parameters.integer("limit", in: 1...maxLimit, default: defaultLimit)
    }
}

/// One page of a list, with how many items the whole list has.
struct Page<Item: Encodable>: Encodable {
    /// Items in the whole list (all pages).
    var total: Int
    var offset: Int
    var limit: Int
    var rows: [Item]
}

/// The keys `/api/samples` sorts by; each is the name of a ``SampleRow`` field.
enum SampleSortKey: String, CaseIterable, Sendable {
    case index, filename, uniqueness, nearestSimilarity, componentSize, issues, label, split, cluster
    /// With annotations (`label_scores.csv`).
    case wrongLabelScore, knnDisagreement, mistakenness, hardness
}

/// A sort of the samples: by a key, ascending or descending. Samples without a value for the key
/// come last either way; ties are broken by component id (none first), then by index.
struct SampleOrder: Hashable, Sendable {
    var key: SampleSortKey
    var descending: Bool
}

/// What `/api/samples` keeps of the samples: every criterion given must hold.
struct SampleFilter: Sendable, Equatable {
    /// `issue=any`, `issue=none` or an issue name.
    enum Issue: Sendable, Equatable {
        /// Samples with at least one issue.
        case anyIssue
        /// Samples with no issue.
        case noIssue
        case named(String)
    }

    /// `mark=keep`, `remove` or `none`.
    enum Mark: String, Sendable {
        case keep, remove
        case unmarked = "none"
    }

    var issue: Issue?
    var label: String?
    var split: String?
    /// The k-means cluster of `scores.csv`.
    var cluster: Int?
    var component: Int64?
    var mark: Mark?
    /// Part of the file name, in any case.
    var name: String?

    /// The names of the filter's parameters.
    static let parameterNames = ["issue", "label", "split", "cluster", "component", "mark", "name"]

    /// Reads the filter's parameters; an issue that is not one of ``WorkDirData/issueOrder``
    /// (nor `any` / `none`), a mark that is not keep, remove or none, or a cluster or component
    /// that is not a whole number is a 400.
    init(_ parameters: QueryParameters) throws(HTTPError) {
        let issues = WorkDirData.issueOrder
        let unknown = "unknown issue \(QueryParameters.shown(parameters["issue"] ?? "")): any, none or one of "
            + issues.joined(separator: ", ")
        issue = try parameters.value("issue", unknown) {
            $0 == "any" ? Issue.anyIssue : $0 == "none" ? Issue.noIssue : issues.contains($0) ? Issue.named($0) : nil
        }
        (label, split, name) = (parameters["label"], parameters["split"], parameters["name"])
        cluster = try parameters.value("cluster", "cluster must be a whole number") { Int($0) }
        component = try parameters.value("component", "component must be a whole number") { Int64($0) }
        mark = try parameters.value("mark", "mark must be keep, remove or none") { Mark(rawValue: $0) }
    }
}

/// `/api/samples`' parameters: a filter, a sort (`sort` = a ``SampleSortKey``, `order` = asc or
/// desc) and a page (`limit` 1–1000, default 100).
struct SampleQuery: Sendable, Equatable {
    var filter: SampleFilter
    var order: SampleOrder
    var paging: Paging

    static let defaultLimit = 100
    static let maxLimit = 1000

    /// The query of a request; a 400 with one line for any parameter that is unknown or out of range.
    init(_ request: Request) throws(HTTPError) {
        let parameters = try QueryParameters(request, allowed: Paging.parameterNames + SampleFilter.parameterNames + ["sort", "order"])
        paging = try Paging(parameters, defaultLimit: Self.defaultLimit, maxLimit: Self.maxLimit)
        filter = try SampleFilter(parameters)
        let keys = SampleSortKey.allCases.map(\.rawValue).joined(separator: ", ")
        let unknown = "unknown sort key \(QueryParameters.shown(parameters["sort"] ?? "")): one of \(keys)"
        let key = try parameters.value("sort", unknown) { SampleSortKey(rawValue: $0) } ?? .index
        let descending = try parameters.value("order", "order must be asc or desc") {
            $0 == "asc" ? false : $0 == "desc" ? true : nil
        } ?? false
        order = SampleOrder(key: key, descending: descending)
    }
}
