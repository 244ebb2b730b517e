//! The standard process metrics (SPEC §6.3: Oathkeeper serves Go's process collector):
//! `process_cpu_seconds_total`, `process_open_fds`, `process_max_fds`,
//! `process_virtual_memory_bytes`, `process_resident_memory_bytes` and
//! `process_start_time_seconds`, read from `/proc/self` at each scrape, without the metrics
//! prefix (dashboards select them by these names). Elsewhere than Linux there are none.

use std::fmt::Write as _;

/// The process metrics in the OpenMetrics text format, or `""` when `/proc` cannot be read.
pub fn encode() -> String {
    let Some(stat) = Stat::read() else {
        return String::new();
    };
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, sample: &str, value: f64| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        let _ = writeln!(out, "{sample} {value}");
    };
    family(
        "process_cpu_seconds",
        "counter",
        "Total user and system CPU time spent in seconds.",
        "process_cpu_seconds_total",
        stat.cpu_seconds,
    );
    if let Some(open) = open_fds() {
        family(
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
            "process_open_fds",
            open,
        );
    }
    if let Some(max) = max_fds() {
        family(
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors.",
            "process_max_fds",
            max,
        );
    }
    family(
        "process_virtual_memory_bytes",
        "gauge",
        "Virtual memory size in bytes.",
        "process_virtual_memory_bytes",
        stat.virtual_bytes,
    );
    family(
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
        "process_resident_memory_bytes",
        stat.resident_bytes,
    );
    if let Some(start) = stat.start_time {
        family(
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
            "process_start_time_seconds",
            start,
        );
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Stat {
    cpu_seconds: f64,
    virtual_bytes: f64,
    resident_bytes: f64,
    start_time: Option<f64>,
}

/// `/proc` reports times in `USER_HZ`, 100 on every Linux architecture.
const USER_HZ: f64 = 100.0;

impl Stat {
    fn read() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let boot = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| boot_time(&s));
        parse(&stat, &status, boot)
    }
}

/// CPU and start time from `/proc/<pid>/stat` (fields after the command name, which may hold
/// spaces and parentheses: utime and stime are 14 and 15, starttime 22, in clock ticks since
/// boot); memory from `/proc/<pid>/status` (`VmSize`, `VmRSS`, in kB).
fn parse(stat: &str, status: &str, boot: Option<f64>) -> Option<Stat> {
    let after = &stat[stat.rfind(')')? + 1..];
    // Field 3 (the state) is the first after the name.
    let fields: Vec<f64> = after
        .split_whitespace()
        .map(|f| f.parse::<f64>().unwrap_or(0.0))
        .collect();
    let field = |n: usize| fields.get(n - 3).copied();
    let kb = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map(|v| v * 1024.0)
    };
    Some(Stat {
        cpu_seconds: (field(14)? + field(15)?) / USER_HZ,
        virtual_bytes: kb("VmSize:")?,
        resident_bytes: kb("VmRSS:")?,
        start_time: boot.map(|b| b + field(22).unwrap_or(0.0) / USER_HZ),
    })
}

/// `btime` of `/proc/stat`: the boot time, in seconds since the epoch.
fn boot_time(stat: &str) -> Option<f64> {
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

fn open_fds() -> Option<f64> {
    let n = std::fs::read_dir("/proc/self/fd").ok()?.count();
    // The directory handle read_dir holds is one of them.
    Some(n.saturating_sub(1) as f64)
}

/// The soft limit of `Max open files` in `/proc/self/limits`.
fn max_fds() -> Option<f64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields() {
        // A command name with a space and a parenthesis, as the kernel writes it.
        let stat = "1234 (ga (te) house) S 1 1234 1234 0 -1 4194560 2000 0 0 0 250 50 0 0 20 0 8 0 1000 104857600 2560 18446744073709551615";
        let status = "Name:\tgatehouse\nVmSize:\t  102400 kB\nVmRSS:\t   10240 kB\n";
        let s = parse(stat, status, Some(1_700_000_000.0)).expect("parsed");
        assert_eq!(s.cpu_seconds, 3.0);
        assert_eq!(s.virtual_bytes, 102_400.0 * 1024.0);
        assert_eq!(s.resident_bytes, 10_240.0 * 1024.0);
        assert_eq!(s.start_time, Some(1_700_000_010.0));
        assert_eq!(
            boot_time("cpu 1 2\nbtime 1700000000\n"),
            Some(1_700_000_000.0)
        );
    }

    // SPEC §6.3: the standard process collector's metric names, unprefixed.
    #[cfg(target_os = "linux")]
    #[test]
    fn this_process() {
        let text = encode();
        for name in [
            "process_cpu_seconds_total ",
            "process_open_fds ",
            "process_max_fds ",
            "process_resident_memory_bytes ",
            "process_start_time_seconds ",
        ] {
            assert!(text.contains(name), "{name} in {text}");
        }
    }
}
