extension RandomAccessCollection where Index == Int {
    /// The index of the first element for which `isBefore` is false, by binary search: the
    /// elements must be ordered so that `isBefore` holds for a prefix and for nothing after it.
    func partitionPoint(where isBefore: (Element) -> Bool) -> Int {
        var low = startIndex, high = endIndex
        while low < high {
            let middle = low + (high - low) / 2
            if isBefore(self[middle]) { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
