//! Readings of another process from `/proc`: CPU time (utime + stime) and resident memory (VmRSS, VmHWM).

use crate::error::BenchError;

/// Clock ticks per second of `/proc/PID/stat` times (`USER_HZ`, 100 on every Linux architecture we run on).
const USER_HZ: f64 = 100.0;

/// The CPU seconds (user + system) that process `pid` has used so far.
pub fn cpu_seconds(pid: u32) -> Result<f64, BenchError> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| BenchError::io(format!("read /proc/{pid}/stat"), e))?;
    parse_cpu_seconds(&text)
        .ok_or_else(|| BenchError::Failed(format!("unreadable /proc/{pid}/stat")))
}

/// `utime + stime` from the text of `/proc/PID/stat`, in seconds. The command name (field 2) may hold spaces and
/// parentheses, so fields are counted from the last `)`.
pub fn parse_cpu_seconds(stat: &str) -> Option<f64> {
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, so utime (field 14) is index 11 and stime (field 15) index 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

/// Resident memory of process `pid`, in KiB: `(VmRSS, VmHWM)` (now, and the peak so far).
pub fn memory_kib(pid: u32) -> Result<(u64, u64), BenchError> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| BenchError::io(format!("read /proc/{pid}/status"), e))?;
    match (status_kib(&text, "VmRSS"), status_kib(&text, "VmHWM")) {
        (Some(rss), Some(hwm)) => Ok((rss, hwm)),
        _ => Err(BenchError::Failed(format!(
            "no VmRSS/VmHWM in /proc/{pid}/status"
        ))),
    }
}

/// The value in kB of line `key:` of `/proc/PID/status`.
pub fn status_kib(status: &str, key: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let value = line.strip_prefix(key)?.strip_prefix(':')?;
        value.split_whitespace().next()?.parse().ok()
    })
}

/// Pins every thread of process `pid` to `cpu` with `taskset -a -p -c` (util-linux), so that no `unsafe` libc call
/// is needed.
pub fn pin(pid: u32, cpu: usize) -> Result<(), BenchError> {
    let status = std::process::Command::new("taskset")
        .args(["-a", "-p", "-c", &cpu.to_string(), &pid.to_string()])
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| BenchError::io("run taskset (util-linux)", e))?;
    if status.success() {
        Ok(())
    } else {
        Err(BenchError::Failed(format!(
            "taskset could not pin process {pid} to CPU {cpu}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_utime_plus_stime_counted_after_the_name() {
        let stat = "4242 (tessera (x) y) S 1 2 3 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 1 2 3";
        assert_eq!(parse_cpu_seconds(stat), Some(3.0));
    }

    #[test]
    fn cpu_time_of_a_truncated_stat_is_none() {
        assert_eq!(parse_cpu_seconds("4242 (tessera) S 1 2"), None);
        assert_eq!(parse_cpu_seconds("no parenthesis"), None);
        assert_eq!(parse_cpu_seconds("1 (a) S 1 2 3 0 -1 0 0 0 0 0 x 5"), None);
    }

    #[test]
    fn memory_lines_are_read_in_kib() {
        let status = "Name:\ttessera\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n";
        assert_eq!(status_kib(status, "VmRSS"), Some(10240));
        assert_eq!(status_kib(status, "VmHWM"), Some(20480));
        assert_eq!(status_kib(status, "VmSwap"), None);
    }

    #[test]
    fn this_process_is_readable() {
        let pid = std::process::id();
        assert!(cpu_seconds(pid).is_ok_and(|s| s >= 0.0));
        let (rss, hwm) = memory_kib(pid).expect("own status");
        assert!(rss > 0 && hwm >= rss);
    }
}
