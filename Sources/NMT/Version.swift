/// nmt's version, printed by `nmt --version` and written into model files and score signatures.
public let nmtVersion = "0.1.0"
