import Testing
@testable import WinnowCore
@Test func versionIsSet() { #expect(!Winnow.version.isEmpty) }
