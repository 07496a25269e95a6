// Shape: the dimensions of a row-major tensor, up to rank 4, stored inline so that
// making a view never allocates (views are made inside the training loop).

public struct Shape: Equatable, Sendable, CustomStringConvertible {
    public let rank: Int
    private let d0, d1, d2, d3: Int

    public init(_ a: Int) { self.init(rank: 1, a, 1, 1, 1) }
    public init(_ a: Int, _ b: Int) { self.init(rank: 2, a, b, 1, 1) }
    public init(_ a: Int, _ b: Int, _ c: Int) { self.init(rank: 3, a, b, c, 1) }
    public init(_ a: Int, _ b: Int, _ c: Int, _ d: Int) { self.init(rank: 4, a, b, c, d) }

    private init(rank: Int, _ a: Int, _ b: Int, _ c: Int, _ d: Int) {
        require(a >= 0 && b >= 0 && c >= 0 && d >= 0, "Shape: negative dimension in (\(a), \(b), \(c), \(d))")
        self.rank = rank
        (d0, d1, d2, d3) = (a, b, c, d)
    }

    /// Dimension `i` (0-based, `i < rank`).
    public subscript(i: Int) -> Int {
        require(i >= 0 && i < rank, "Shape: dimension \(i) of a rank-\(rank) shape \(self)")
        switch i {
        case 0: return d0
        case 1: return d1
        case 2: return d2
        default: return d3
        }
    }

    /// Number of elements.
    public var count: Int { d0 * d1 * d2 * d3 }
    /// Size of the last dimension: the row length of the row-major layout.
    public var columns: Int { self[rank - 1] }
    /// Product of all but the last dimension: how many rows of `columns` there are.
    public var rows: Int { columns == 0 ? 0 : count / columns }

    public var dimensions: [Int] { (0..<rank).map { self[$0] } }

    public var description: String {
        "[" + dimensions.map(String.init).joined(separator: ", ") + "]"
    }
}
