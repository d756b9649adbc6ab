extension UnsafeMutableBufferPointer {
    /// Sorts in place (stable) by moving each element back past the greater ones before it: linear time on input
    /// that is nearly sorted already, each element a few places from its spot, as the writer's messageId entries
    /// are (`PendingMessageIds.sorted()`, the index flush).
    @inline(__always)
    func insertionSort(by areInIncreasingOrder: (Element, Element) -> Bool) {
        guard count > 1 else { return }
        for i in 1..<count {
            let e = self[i]
            var j = i
            while j > 0 && areInIncreasingOrder(e, self[j - 1]) {
                self[j] = self[j - 1]
                j -= 1
            }
            self[j] = e
        }
    }
}
