//! This process's threads from /proc.

/// Names of this process's threads.
pub fn names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
        .map(|s| s.trim_end().to_string())
        .collect()
}

/// How many threads this process has.
pub fn count() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}
