// swift-tools-version:6.0
// libFuzzer targets for nmt's parsers, built by scripts/check/fuzz with `-sanitize=fuzzer` (libFuzzer
// supplies `main`, hence -parse-as-library). A package of its own so that ordinary builds and
// tests of nmt never need the fuzzing runtime.
import PackageDescription

let package = Package(
    name: "nmt-fuzz",
    dependencies: [.package(name: "nmt", path: "..")],
    targets: [
        .executableTarget(
            name: "nmt-fuzz",
            dependencies: [.product(name: "NMT", package: "nmt")],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
    ]
)
