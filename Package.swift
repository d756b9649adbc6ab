// swift-tools-version: 6.1
import PackageDescription

/// Every target is Swift 6 with the same upcoming features, so the rules are the same in every room.
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "Journey",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Journey", targets: ["Journey"]),
        .executable(name: "journey", targets: ["JourneyCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // Debian's liblmdb-dev ships lmdb.pc; `providers` only prints a hint, .ci/run installs it.
        .systemLibrary(name: "CLMDB", pkgConfig: "lmdb", providers: [.apt(["liblmdb-dev"])]),
        // The only module that touches C.
        .target(name: "LMDB", dependencies: ["CLMDB"], swiftSettings: strictSettings),
        .target(name: "Journey", dependencies: ["LMDB"], swiftSettings: strictSettings),
        .executableTarget(
            name: "JourneyCLI",
            dependencies: ["Journey", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strictSettings
        ),
        .testTarget(name: "LMDBTests", dependencies: ["LMDB"], swiftSettings: strictSettings),
        .testTarget(
            name: "JourneyTests",
            dependencies: ["Journey", "JourneyCLI"],
            exclude: ["Fixtures"],  // read by source path (TestResources.sourcePath)
            resources: [.copy("Golden")],
            swiftSettings: strictSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
