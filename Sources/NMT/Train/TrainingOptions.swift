// TrainingOptions: everything `nmt train` is told, with the Transformer paper's recipe as
// defaults (Adam 0.9/0.98/1e-9, inverse-sqrt schedule with warmup, label smoothing 0.1).

public struct TrainingOptions: Sendable {
    // Data
    public var trainSource = "", trainTarget = ""
    public var validSource: String?, validTarget: String?
    public var bpeCodes: String?
    public var bpeMerges = 8000
    public var bpeDropout = 0.0
    public var maxLength = 256
    public var maxLengthRatio = 4.0
    // Batching
    public var maxTokens = 4096
    public var updateFrequency = 1
    public var seed: UInt64 = 1
    // Objective and optimizer
    public var labelSmoothing: Float = 0.1
    public var lr = 1e-3
    public var warmupSteps = 4000
    public var warmupInitLR = 1e-7
    public var schedule = LearningRateSchedule.inverseSqrt
    public var adamBetas: (Float, Float) = (0.9, 0.98)
    public var adamEpsilon: Float = 1e-9
    public var weightDecay: Float = 0
    public var clipNorm = 0.0
    // Validation and checkpoints
    public var validEvery = 500
    public var validBeam = 1
    public var validMaxSentences: Int?
    public var patience: Int?
    public var bestMetric = BestMetric.loss
    public var outputDirectory = "runs/model"
    public var saveEvery: Int?
    public var keepLast = 5
    public var resume: String?
    public var resetOptimizer = false
    // Stopping and progress
    public var maxSteps: Int?
    public var maxEpochs: Int?
    public var maxMinutes: Double?
    public var logEvery = 50

    public init() {}

    public enum BestMetric: String, CaseIterable, Sendable { case loss, bleu }
}
