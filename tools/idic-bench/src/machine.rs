//! What a result was measured on and when: CPU count and model, memory and kernel from
//! `/proc`, and the date in UTC. Figures without these cannot be compared.

use std::time::{SystemTime, UNIX_EPOCH};

/// The machine the benchmark runs on, as far as `/proc` tells.
#[derive(Debug, Clone)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub memory: String,
    pub kernel: String,
}

impl Machine {
    pub fn describe() -> Machine {
        let cpus = std::thread::available_parallelism().map_or(1, |count| count.get());
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|text| text.trim().to_owned())
            .unwrap_or_else(|_| "unknown".to_owned());
        Machine {
            cpus,
            cpu_model: field(&cpuinfo, "model name").unwrap_or_else(|| "unknown".to_owned()),
            memory: field(&meminfo, "MemTotal")
                .and_then(|total| kibibytes_as_gibibytes(&total))
                .unwrap_or_else(|| "unknown".to_owned()),
            kernel,
        }
    }

    /// One line: `2 CPUs (Intel(R) Xeon(R) Processor), 23.4 GiB memory, Linux 6.1.0`.
    pub fn summary(&self) -> String {
        format!(
            "{} CPUs ({}), {} memory, Linux {}",
            self.cpus, self.cpu_model, self.memory, self.kernel
        )
    }
}

/// The value of the first `key: value` line of a `/proc` file.
fn field(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        (name.trim() == key).then(|| value.trim().to_owned())
    })
}

/// `24461784 kB` -> `23.3 GiB`.
fn kibibytes_as_gibibytes(value: &str) -> Option<String> {
    let kib: f64 = value.split_whitespace().next()?.parse().ok()?;
    Some(format!("{:.1} GiB", kib / (1024.0 * 1024.0)))
}

/// The current time as `YYYY-MM-DD HH:MM UTC`.
pub fn utc_now() -> String {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    utc_timestamp(seconds)
}

/// Seconds since the Unix epoch as `YYYY-MM-DD HH:MM UTC`, without a date crate.
pub fn utc_timestamp(seconds_since_epoch: u64) -> String {
    let days = i64::try_from(seconds_since_epoch / 86_400).unwrap_or(i64::MAX);
    let seconds_of_day = seconds_since_epoch % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        seconds_of_day / 3600,
        seconds_of_day % 3600 / 60
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month as u32, day as u32)
}

/// The 1, 5 and 15-minute load averages as `/proc/loadavg` gives them ("unknown"
/// elsewhere): printed beside timings, since a loaded machine skews them.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_dates_in_utc() {
        assert_eq!(utc_timestamp(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_timestamp(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(utc_timestamp(1_735_689_599), "2024-12-31 23:59 UTC");
        assert_eq!(utc_timestamp(1_767_225_600 + 3_723), "2026-01-01 01:02 UTC");
    }

    #[test]
    fn reads_proc_fields() {
        let meminfo = "MemTotal:       24461784 kB\nMemFree:        22000000 kB\n";
        let total = field(meminfo, "MemTotal").expect("present");
        assert_eq!(kibibytes_as_gibibytes(&total).as_deref(), Some("23.3 GiB"));
        let cpuinfo = "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\n";
        assert_eq!(
            field(cpuinfo, "model name").as_deref(),
            Some("Intel(R) Xeon(R) Processor")
        );
        assert_eq!(field(cpuinfo, "flags"), None);
    }
}
