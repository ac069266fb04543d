//! CPU time used by the server's and the load generator's threads, read from
//! `/proc/self/task` (Linux), and by everything else on the machine (`/proc/stat`). It
//! tells whether a run was limited by the server or by the load generator, and whether
//! another process competed for the cores, which decides whether a ratio means anything.

use std::time::Duration;

/// Clock ticks per second of `/proc/*/stat` times (`USER_HZ`, 100 on every Linux ABI).
const TICKS_PER_SECOND: u64 = 100;

/// CPU time consumed so far by the server's and the load generator's threads, by this
/// whole process, and by the whole machine.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuTime {
    pub server: Duration,
    pub client: Duration,
    pub process: Duration,
    pub machine: Duration,
}

/// Cores in use, on average, over a phase: 1.0 is one core fully busy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuUse {
    pub server_cores: f64,
    pub client_cores: f64,
    /// Used by other processes (and the kernel on their behalf) meanwhile.
    pub other_cores: f64,
}

impl CpuTime {
    /// Sums the threads whose name starts with `server_prefix`, and those whose name
    /// starts with one of `client_prefixes`; `None` where `/proc` is not readable.
    pub fn sample(server_prefix: &str, client_prefixes: &[&str]) -> Option<CpuTime> {
        let mut total = CpuTime {
            process: cpu_time_from_stat(&std::fs::read_to_string("/proc/self/stat").ok()?)?,
            machine: busy_time_from_proc_stat(&std::fs::read_to_string("/proc/stat").ok()?)?,
            ..CpuTime::default()
        };
        for entry in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
            let path = entry.path();
            // A thread may exit between listing and reading: skip it.
            let Ok(name) = std::fs::read_to_string(path.join("comm")) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(path.join("stat")) else {
                continue;
            };
            let Some(used) = cpu_time_from_stat(&stat) else {
                continue;
            };
            if name.starts_with(server_prefix) {
                total.server += used;
            } else if client_prefixes
                .iter()
                .any(|prefix| name.starts_with(prefix))
            {
                total.client += used;
            }
        }
        Some(total)
    }

    /// Average cores used between `earlier` and `self` over `wall` time.
    pub fn since(&self, earlier: &CpuTime, wall: Duration) -> CpuUse {
        let cores = |now: Duration, then: Duration| {
            now.saturating_sub(then).as_secs_f64() / wall.as_secs_f64().max(f64::EPSILON)
        };
        let machine = cores(self.machine, earlier.machine);
        let process = cores(self.process, earlier.process);
        CpuUse {
            server_cores: cores(self.server, earlier.server),
            client_cores: cores(self.client, earlier.client),
            other_cores: (machine - process).max(0.0),
        }
    }
}

/// Cores used by other processes over the next `window` (this thread sleeps through it);
/// `None` where `/proc` is not readable.
pub fn other_cores_over(window: Duration) -> Option<f64> {
    let busy = || -> Option<(Duration, Duration)> {
        let machine = busy_time_from_proc_stat(&std::fs::read_to_string("/proc/stat").ok()?)?;
        let process = cpu_time_from_stat(&std::fs::read_to_string("/proc/self/stat").ok()?)?;
        Some((machine, process))
    };
    let (machine_before, process_before) = busy()?;
    std::thread::sleep(window);
    let (machine_after, process_after) = busy()?;
    let others = machine_after
        .saturating_sub(machine_before)
        .saturating_sub(process_after.saturating_sub(process_before));
    Some(others.as_secs_f64() / window.as_secs_f64().max(f64::EPSILON))
}

/// User plus system time from a `/proc/<pid>/task/<tid>/stat` line. The command name
/// (field 2) may hold spaces and parentheses, so fields are counted after its last `)`.
/// CPU time used so far by another process (user and system), e.g. a server the
/// benchmark started; `None` where `/proc` is not readable.
pub fn process_cpu(pid: u32) -> Option<Duration> {
    cpu_time_from_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// CPU time the whole machine was busy so far (every core, every process).
pub fn machine_busy() -> Option<Duration> {
    busy_time_from_proc_stat(&std::fs::read_to_string("/proc/stat").ok()?)
}

fn cpu_time_from_stat(stat: &str) -> Option<Duration> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace();
    // After the name: state is field 3, utime field 14, stime field 15.
    let user_ticks: u64 = fields.nth(11)?.parse().ok()?;
    let system_ticks: u64 = fields.next()?.parse().ok()?;
    let ticks = user_ticks + system_ticks;
    Some(Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND))
}

/// Busy time of all CPUs from the first (`cpu `) line of `/proc/stat`: user, nice,
/// system, irq, softirq and steal; idle and iowait are not busy.
fn busy_time_from_proc_stat(stat: &str) -> Option<Duration> {
    let line = stat.lines().find(|line| line.starts_with("cpu "))?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|field| field.parse().ok())
        .collect::<Option<_>>()?;
    let busy: u64 = [0, 1, 2, 5, 6, 7]
        .iter()
        .map(|&index| ticks.get(index).copied().unwrap_or(0))
        .sum();
    Some(Duration::from_millis(busy * 1000 / TICKS_PER_SECOND))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_user_and_system_ticks_after_an_awkward_name() {
        let stat = "4242 (bench) server) S 1 4242 4242 0 -1 4194368 120 0 0 0 250 50 0 0 20 0 3 0";
        assert_eq!(cpu_time_from_stat(stat), Some(Duration::from_secs(3)));
        assert_eq!(cpu_time_from_stat("garbage"), None);
    }

    #[test]
    fn sums_busy_ticks_of_all_cpus() {
        let stat = "cpu  100 10 50 9000 40 5 5 30 0 0\ncpu0 50 5 25 4500 20 2 3 15 0 0\n";
        // 100 + 10 + 50 + 5 + 5 + 30 ticks; idle and iowait left out.
        assert_eq!(busy_time_from_proc_stat(stat), Some(Duration::from_secs(2)));
    }

    #[test]
    fn use_is_cores_over_wall_time() {
        let before = CpuTime {
            server: Duration::from_secs(1),
            client: Duration::from_secs(2),
            process: Duration::from_secs(3),
            machine: Duration::from_secs(10),
        };
        let after = CpuTime {
            server: Duration::from_secs(11),
            client: Duration::from_secs(7),
            process: Duration::from_secs(18),
            machine: Duration::from_secs(30),
        };
        let used = after.since(&before, Duration::from_secs(10));
        assert!((used.server_cores - 1.0).abs() < 1e-9);
        assert!((used.client_cores - 0.5).abs() < 1e-9);
        assert!((used.other_cores - 0.5).abs() < 1e-9);
    }
}
