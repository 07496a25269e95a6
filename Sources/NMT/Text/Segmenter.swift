// Segmenter: `nmt bpe apply` over a stream — a window of lines at a time (LineReader.nextWindow),
// each window's lines split across threads, each thread with its own encoder, output in line
// order. Subword dropout draws from one generator in line order, so that its output does not
// depend on the thread count: with dropout, one thread.

public struct Segmenter {
    public let tokenizer: any Tokenizer
    public let dropout: Double
    public let seed: UInt64

    public init(tokenizer: any Tokenizer, dropout: Double, seed: UInt64) {
        self.tokenizer = tokenizer
        self.dropout = dropout
        self.seed = seed
    }

    /// Segments every line of `reader` (UTF-8: an invalid line is an error naming file and line),
    /// handing each window's output lines, newline-terminated, to `write`.
    public func run(reader: LineReader, write: (String) throws -> Void) throws {
        let workers = dropout > 0 ? 1 : Threads.count
        var encoders = (0..<workers).map { _ in tokenizer.makeEncoder(for: .source) }
        var rng = RandomGenerator(seed: seed)
        while let lines = try reader.nextWindow(size: 8192, { try decodeUTF8Line($0, file: reader.name, line: reader.lineNumber) }) {
            // Each worker writes its share of the window's lines as one UTF-8 buffer.
            var parts = [[UInt8]](repeating: [], count: workers)
            parts.withUnsafeMutableBufferPointer { out in
                encoders.withUnsafeMutableBufferPointer { encs in
                    withUnsafeMutablePointer(to: &rng) { rng in
                        nonisolated(unsafe) let (out, encs, rng) = (out, encs, rng)
                        Threads.parallelFor(workers) { w in
                            let start = lines.count * w / workers, end = lines.count * (w + 1) / workers
                            for i in start..<end {
                                encs[w].appendSegmented(lines[i], dropout: dropout, rng: &rng.pointee, to: &out[w])
                                out[w].append(0x0A)
                            }
                        }
                    }
                }
            }
            try write(String(decoding: parts.joined(), as: UTF8.self))
        }
    }
}
