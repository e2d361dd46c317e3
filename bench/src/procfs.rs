//! A process's memory and CPU time from `/proc/<pid>/status` and `/proc/<pid>/stat`: what the
//! benchmark programs sample of the `herald serve` they drive (started and stopped with the
//! end-to-end tests' `herald_tests::server::HeraldServer`).

/// A process's memory as the kernel reports it in `/proc/<pid>/status`, in kB, with its thread
/// count (each thread can hold memory of its own: its stack, its allocator heap).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    /// `VmRSS`: resident now.
    pub rss_kb: u64,
    /// `VmHWM`: the highest resident size since the process started.
    pub peak_kb: u64,
    /// `Threads`: the process's threads now.
    pub threads: u64,
}

impl Memory {
    /// Reads `/proc/<pid>/status`.
    pub fn of(pid: u32) -> std::io::Result<Self> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        Ok(Self::parse(&status))
    }

    /// The `VmRSS`, `VmHWM` and `Threads` lines of a `/proc/<pid>/status` text (0 when absent).
    pub fn parse(status: &str) -> Self {
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0)
        };
        Self {
            rss_kb: field("VmRSS:"),
            peak_kb: field("VmHWM:"),
            threads: field("Threads:"),
        }
    }
}

/// The CPU time a process has used so far (user plus system, every thread), from
/// `/proc/<pid>/stat`: on a shared machine it tells what a run cost where wall time also counts
/// the waits for a core.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CpuTime {
    pub user_seconds: f64,
    pub system_seconds: f64,
}

/// Clock ticks per second of `/proc/<pid>/stat` (`USER_HZ`, 100 on every Linux architecture
/// Herald runs on).
const USER_HZ: f64 = 100.0;

impl CpuTime {
    /// Reads `/proc/<pid>/stat`.
    pub fn of(pid: u32) -> std::io::Result<Self> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        Self::parse(&stat).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("unexpected /proc/{pid}/stat: {stat}"),
            )
        })
    }

    /// `utime` and `stime` (fields 14 and 15) of a `/proc/<pid>/stat` line; the command name
    /// (field 2, in parentheses) may hold spaces.
    pub fn parse(stat: &str) -> Option<Self> {
        let rest = &stat[stat.rfind(')')? + 1..];
        let mut fields = rest.split_whitespace().skip(11);
        let utime: u64 = fields.next()?.parse().ok()?;
        let stime: u64 = fields.next()?.parse().ok()?;
        Some(Self {
            user_seconds: utime as f64 / USER_HZ,
            system_seconds: stime as f64 / USER_HZ,
        })
    }

    pub fn total_seconds(&self) -> f64 {
        self.user_seconds + self.system_seconds
    }
}

/// Kilobytes as megabytes (MiB, as `ps` and `top` count them).
pub fn megabytes(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resident_and_peak_sizes_are_read_from_a_proc_status_text() {
        let status = "Name:\therald\nVmPeak:\t  900000 kB\nVmHWM:\t   51234 kB\nVmRSS:\t   40960 kB\nThreads:\t4\n";
        assert_eq!(
            Memory::parse(status),
            Memory {
                rss_kb: 40_960,
                peak_kb: 51_234,
                threads: 4
            }
        );
        assert_eq!(megabytes(40_960), 40.0);
    }

    #[test]
    fn user_and_system_time_are_read_from_a_proc_stat_line_whose_name_has_spaces() {
        let stat = "4242 (tokio rt) S 1 4242 4242 0 -1 4194560 500 0 0 0 1234 56 0 0 20 0 6 0 100 800000000 5000 18446744073709551615";
        let cpu = CpuTime::parse(stat).unwrap();
        assert_eq!((cpu.user_seconds, cpu.system_seconds), (12.34, 0.56));
        assert!((cpu.total_seconds() - 12.9).abs() < 1e-9);
        assert_eq!(CpuTime::parse("4242 (cut short) S 1"), None);
    }

    #[test]
    fn a_status_text_without_memory_lines_reads_as_zero() {
        assert_eq!(Memory::parse("Name:\tkthreadd\n"), Memory::default());
    }

    #[test]
    fn this_process_has_a_resident_size_no_larger_than_its_peak() {
        let m = Memory::of(std::process::id()).unwrap();
        assert!(m.rss_kb > 0 && m.rss_kb <= m.peak_kb, "{m:?}");
    }
}
