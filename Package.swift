// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "nmt",
    products: [
        .executable(name: "nmt", targets: ["NMTCLI"]),
        .library(name: "NMT", targets: ["NMT"]),
    ],
    // MPI: data-parallel training over Open MPI (`mpirun -np N nmt train`); off by default, so
    // building and running single-process nmt needs no MPI (scripts/build-mpi turns it on).
    traits: [.trait(name: "MPI", description: "Data-parallel training across processes with Open MPI (libopenmpi-dev).")],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        // `nmt serve`: HTTP on SwiftNIO, and Prometheus metrics.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: ["FullFoundation"]),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        // OpenBLAS (Debian: libopenblas-dev). Every matrix product goes through it.
        .systemLibrary(
            name: "CBLAS",
            path: "Sources/CBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        // oneDNN (Debian: libdnnl-dev): int8 products without AVX512-VNNI, few-row float32 products, bf16 training products.
        .systemLibrary(name: "CDNNL", path: "Sources/CDNNL", providers: [.apt(["libdnnl-dev"])]),
        // Open MPI (Debian: libopenmpi-dev), with the MPI trait only: the collectives of multi-process training.
        .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
        // Kernels written in C for per-CPU code with CPU-independent results (target_clones):
        // attention over the decoder's prefix-shared self-attention cache, the float sides of int8 products,
        // the top k of a row; and the int8 product over packed weights of AVX512-VNNI CPUs.
        .target(name: "CKernels", path: "Sources/CKernels"),
        // The toolkit: tensors and kernels, text, model, training, decoding, evaluation, I/O.
        .target(name: "NMT", dependencies: ["CBLAS", "CDNNL", "CKernels", .target(name: "CMPI", condition: .when(traits: ["MPI"])),
                                            .product(name: "Yams", package: "Yams")]),
        // `nmt serve`: LibreTranslate's and OpenNMT-py's HTTP APIs over shared translators, with
        // sentences of concurrent requests batched together.
        .target(name: "NMTServer", dependencies: ["NMT", .product(name: "Hummingbird", package: "hummingbird"),
                                                  .product(name: "HummingbirdCore", package: "hummingbird"),
                                                  .product(name: "NIOCore", package: "swift-nio"),
                                                  .product(name: "Prometheus", package: "swift-prometheus"),
                                                  .product(name: "Yams", package: "Yams")]),
        // The `nmt` command: a thin layer over the libraries.
        .executableTarget(
            name: "NMTCLI",
            dependencies: ["NMT", "NMTServer", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // Benchmarks run by scripts/bench-*; kept out of the user-facing CLI.
        .executableTarget(name: "NMTBench", dependencies: ["NMT", "CBLAS", "CKernels"]),
        .testTarget(name: "NMTTests", dependencies: ["NMT", "NMTServer"], resources: [.copy("Fixtures")]),
    ]
)
