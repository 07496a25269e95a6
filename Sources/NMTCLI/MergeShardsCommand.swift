// nmt merge-shards: the outputs of `nmt translate --shard I/N`, I = 1…N, put back in input order.

import ArgumentParser
import Foundation
import NMT

struct MergeShardsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge-shards",
        abstract: "Merge the outputs of 'nmt translate --shard I/N' (given in order I = 1…N) into one file in input order.",
        discussion: "Example: nmt merge-shards -o test.es test.es.1 test.es.2 test.es.3"
    )

    @Option(name: [.customShort("o"), .long], help: "Merged output (default: standard output).") var output: String?
    @Flag(help: "The shards are n-best lists ('INDEX ||| …'): merged by index.") var nbest = false
    @Argument(help: "Shard outputs, shard 1 first.") var shards: [String]

    func run() throws {
        try reportingErrors {
            guard !shards.isEmpty else { throw NMTError("merge-shards: give the shard outputs, shard 1 first") }
            let readers = try shards.map { try LineReader(path: $0, keepCarriageReturns: true) }
            try withOutput(output) { sink in
                if nbest { try mergeByIndex(readers, sink) } else { try mergeByBlocks(readers, sink) }
            }
        }
    }

    /// Block b of the input (Shard.blockLines lines) is the next block of shard b mod N; a short
    /// block is the input's last, after which every shard must be at its end.
    private func mergeByBlocks(_ readers: [LineReader], _ sink: OutputSink) throws {
        var block = 0
        while true {
            let reader = readers[block % readers.count]
            var lines = 0
            while lines < Shard.blockLines, let line = try reader.nextString() {
                try sink.write(line + "\n")
                lines += 1
            }
            if lines < Shard.blockLines { break }
            block += 1
        }
        for reader in readers where try reader.nextLine({ _ in }) != nil {
            throw NMTError("\(reader.name):\(reader.lineNumber): more lines than its shard of the input has (shards given out of order, or of different runs?)")
        }
    }

    /// Each shard lists its lines' hypotheses by increasing index: a merge of sorted lists.
    private func mergeByIndex(_ readers: [LineReader], _ sink: OutputSink) throws {
        func next(_ reader: LineReader) throws -> (index: Int, line: String)? {
            guard let line = try reader.nextString() else { return nil }
            guard let bar = line.range(of: " ||| "), let index = Int(line[..<bar.lowerBound]) else {
                throw NMTError("\(reader.name):\(reader.lineNumber): not an n-best line ('INDEX ||| hypothesis ||| score')")
            }
            return (index, line)
        }
        var heads = try readers.map { try next($0) }
        var last = -1
        while let pick = heads.indices.filter({ heads[$0] != nil }).min(by: { heads[$0]!.index < heads[$1]!.index }) {
            let head = heads[pick]!
            if head.index < last { throw NMTError("\(readers[pick].name):\(readers[pick].lineNumber): index \(head.index) out of order") }
            last = head.index
            try sink.write(head.line + "\n")
            heads[pick] = try next(readers[pick])
        }
    }
}
