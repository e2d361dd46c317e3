//! Counting a runtime's threads, for tests that bound how many threads work starts.

/// A multi-threaded tokio runtime with one worker, whose threads (the worker and every
/// blocking-pool thread) are all called `name` (at most 15 bytes, Linux's limit).
pub fn named_runtime(name: &str) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(name)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Threads of this process called `name` now (`/proc/self/task/*/comm`; Linux only).
/// A blocking-pool thread stays 10 s after its last task, so right after a burst of work this
/// counts the threads the burst started.
pub fn threads_named(name: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task (Linux)")
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim_end() == name)
        .count()
}
