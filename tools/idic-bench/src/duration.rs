//! Durations on the command line: `10s`, `500ms`, `2m` or a bare number of seconds. A
//! leaf every benchmark's arguments use.

use std::time::Duration;

/// Parses `10s`, `500ms`, `2m` or a bare number of seconds (`1.5`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|character: char| !(character.is_ascii_digit() || character == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let amount: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a duration (try 10s, 500ms, 2m)"))?;
    let seconds = match unit.trim() {
        "" | "s" => amount,
        "ms" => amount / 1000.0,
        "m" | "min" => amount * 60.0,
        other => {
            return Err(format!(
                "unknown unit '{other}' in '{text}' (use ms, s or m)"
            ));
        }
    };
    Duration::try_from_secs_f64(seconds).map_err(|error| format!("'{text}': {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_the_units_people_write() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("ten seconds").is_err());
        assert!(parse_duration("10h").is_err());
        assert!(parse_duration("-1s").is_err());
    }
}
