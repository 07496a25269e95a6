// A small seeded random number generator: xoshiro256** (Blackman & Vigna 2018), seeded with
// SplitMix64. Its whole state is four words, saved in training-state files so that a resumed
// run draws the same numbers (dropout masks, batch order) as an uninterrupted one.

import Foundation

public struct RandomGenerator: RandomNumberGenerator, Codable, Sendable, Equatable {
    public private(set) var state: [UInt64]

    public init(seed: UInt64) {
        var s = seed
        var words: [UInt64] = []
        for _ in 0..<4 {
            s &+= 0x9E37_79B9_7F4A_7C15
            var z = s
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            words.append(z ^ (z >> 31))
        }
        state = words
    }

    public init(state: [UInt64]) {
        require(state.count == 4 && state.contains { $0 != 0 }, "RandomGenerator: a state is four words, not all zero")
        self.state = state
    }

    @inline(__always)
    private static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    public mutating func next() -> UInt64 {
        let result = RandomGenerator.rotl(state[1] &* 5, 7) &* 9
        let t = state[1] << 17
        state[2] ^= state[0]
        state[3] ^= state[1]
        state[1] ^= state[2]
        state[0] ^= state[3]
        state[2] ^= t
        state[3] = RandomGenerator.rotl(state[3], 45)
        return result
    }

    /// Uniform in [0, 1) with 24 random bits.
    @inline(__always)
    public mutating func nextUnitFloat() -> Float {
        Float(next() >> 40) * (1.0 / 16_777_216.0)
    }

    /// Standard normal (Box–Muller), in Double.
    public mutating func nextGaussian() -> Double {
        let u1 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        let u2 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        return (-2 * log(max(u1, 1e-300))).squareRoot() * cos(2 * Double.pi * u2)
    }
}

