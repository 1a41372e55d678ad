//! How many threads CPU-bound work (planning, rendering, proving, deriving public keys) is spread over.

use std::sync::OnceLock;

/// One thread per available core, at most 8 (more buys nothing on the machines this runs on and costs
/// memory per thread); 1 when the number of cores cannot be read. Read once per process: finding the
/// number reads the cgroup's CPU quota files, and one render asks a dozen times.
pub(crate) fn worker_threads() -> usize {
    static WORKERS: OnceLock<usize> = OnceLock::new();
    *WORKERS.get_or_init(|| std::thread::available_parallelism().map(|p| p.get()).unwrap_or(1).min(8))
}
