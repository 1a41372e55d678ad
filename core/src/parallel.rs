//! How many threads CPU-bound work (planning, rendering, proving, deriving public keys) is spread over.

/// One thread per available core, at most 8 (more buys nothing on the machines this runs on and costs
/// memory per thread); 1 when the number of cores cannot be read.
pub(crate) fn worker_threads() -> usize {
    std::thread::available_parallelism().map(|p| p.get()).unwrap_or(1).min(8)
}
