// BinaryHeap: a max-heap over an array, its order given with each call (`above(x, y)`: x comes
// out before y), for the merge agendas of BPE learning and of SentencePiece's BPE segmentation.

struct BinaryHeap<Element> {
    private var elements: [Element] = []

    var isEmpty: Bool { elements.isEmpty }

    mutating func push(_ element: Element, above: (Element, Element) -> Bool) {
        elements.append(element)
        var child = elements.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard above(elements[child], elements[parent]) else { break }
            elements.swapAt(child, parent)
            child = parent
        }
    }

    /// The first element in the order, removed; nil when empty.
    mutating func pop(above: (Element, Element) -> Bool) -> Element? {
        guard let top = elements.first else { return nil }
        let last = elements.removeLast()
        if !elements.isEmpty {
            elements[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var best = parent
                if left < elements.count && above(elements[left], elements[best]) { best = left }
                if right < elements.count && above(elements[right], elements[best]) { best = right }
                if best == parent { break }
                elements.swapAt(parent, best)
                parent = best
            }
        }
        return top
    }
}
