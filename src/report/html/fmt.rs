//! Times, dates and sizes as the page prints them.

/// "4.2 s", "12 min 02 s", "3 h 07 min".
pub fn duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "–".into();
    }
    if seconds < 60.0 {
        return format!("{seconds:.1} s");
    }
    let s = seconds.round() as u64;
    if s < 3600 {
        format!("{} min {:02} s", s / 60, s % 60)
    } else {
        format!("{} h {:02} min", s / 3600, (s % 3600) / 60)
    }
}

/// Seconds since the Unix epoch as "2026-12-05 15:19:55 UTC".
pub fn date(epoch: f64) -> String {
    let Some(t) = (epoch.is_finite() && epoch >= 0.0)
        .then(|| time::OffsetDateTime::from_unix_timestamp(epoch as i64).ok())
        .flatten()
    else {
        return "–".into();
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// A metric value as stored (0..1), four decimals.
pub fn metric(v: f64) -> String {
    format!("{v:.4}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_dates() {
        assert_eq!(duration(4.23), "4.2 s");
        assert_eq!(duration(722.0), "12 min 02 s");
        assert_eq!(duration(11_220.0), "3 h 07 min");
        assert_eq!(date(0.0), "1970-01-01 00:00:00 UTC");
        // `date -u -d @1796483995` says Sat Dec  5 15:19:55 UTC 2026.
        assert_eq!(date(1_796_483_995.0), "2026-12-05 15:19:55 UTC");
        assert_eq!(date(951_782_400.0), "2000-02-29 00:00:00 UTC");
    }
}
