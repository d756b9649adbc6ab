internal import Dispatch

/// Runs blocking store work (LMDB reads, whole-store scans) on a Dispatch thread, so async callers never block a
/// thread of Swift's cooperative pool while it runs.
func offCooperativePool<R: Sendable>(_ body: @escaping @Sendable () throws -> R) async throws -> R {
    try await withCheckedThrowingContinuation { (c: CheckedContinuation<R, any Error>) in
        DispatchQueue.global(qos: .userInitiated).async {
            do { c.resume(returning: try body()) } catch { c.resume(throwing: error) }
        }
    }
}
