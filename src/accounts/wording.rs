//! Wording shared by the mails and pages of several account flows (times
//! as people read them). A leaf: imports nothing from the other account
//! modules, so they can all use it without import loops.
use time::OffsetDateTime;
use time::macros::format_description;

/// Unix seconds as "2026-11-23 10:36 UTC" ("-" if out of range).
pub fn format_time(unix: i64) -> String {
    let fmt = format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    OffsetDateTime::from_unix_timestamp(unix).ok().and_then(|t| t.format(&fmt).ok()).unwrap_or_else(|| "-".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_formatted_in_utc_to_the_minute() {
        assert_eq!(format_time(1_767_225_600), "2026-01-01 00:00 UTC");
    }
}
