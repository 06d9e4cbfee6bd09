//! Calendar arithmetic for the three time formats the API speaks: RFC 3339
//! timestamps (`2026-11-22T09:30:00Z`), ISO 8601 dates (`2026-11-22`) and
//! HTTP dates (`Sun, 22 Nov 2026 09:30:00 GMT`).
//!
//! All of them are UTC and proleptic Gregorian, so a few lines of integer
//! arithmetic replace a date-time crate. The day-count conversion is Howard
//! Hinnant's `civil_from_days` (<https://howardhinnant.github.io/date_algorithms.html>).

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> i64 {
    // A clock before 1970 is a broken host; treating it as the epoch keeps
    // the server answering instead of panicking.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64)
}

/// The current time as an RFC 3339 UTC timestamp with second precision.
pub fn now_rfc3339() -> String {
    rfc3339(unix_now())
}

/// Today's date in UTC, as an ISO 8601 date.
pub fn today() -> String {
    let (year, month, day) = split(unix_now()).0;
    format!("{year:04}-{month:02}-{day:02}")
}

/// `seconds` since the epoch as an RFC 3339 UTC timestamp.
pub fn rfc3339(seconds: i64) -> String {
    let (date, (hour, minute, second)) = split(seconds);
    let (year, month, day) = date;
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z")
}

/// `seconds` since the epoch as an IMF-fixdate, the form RFC 9110 §5.6.7
/// requires in the `Date` header.
pub fn http_date(seconds: i64) -> String {
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let ((year, month, day), (hour, minute, second)) = split(seconds);
    // 1970-01-01 was a Thursday.
    let weekday = WEEKDAYS[seconds.div_euclid(86_400).rem_euclid(7) as usize];
    let month = MONTHS[month as usize - 1];
    format!("{weekday}, {day:02} {month} {year:04} {hour:02}:{minute:02}:{second:02} GMT")
}

/// Whether `text` is a real calendar date written `YYYY-MM-DD`
/// (`2024-02-29` is, `2025-02-30` and `2025-2-3` are not).
pub fn is_valid_date(text: &str) -> bool {
    let bytes = text.as_bytes();
    let shape_ok = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    if !shape_ok {
        return false;
    }
    // The shape check above guarantees these slices are ASCII digits.
    let number = |range: std::ops::Range<usize>| text[range].parse::<u32>().unwrap_or(0);
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    (1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month)
}

/// Parses an RFC 3339 timestamp with a `Z` or `±HH:MM` offset and optional
/// fractional seconds (ignored) into seconds since the epoch.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let (date, rest) = text.split_once(['T', 't'])?;
    // ASCII only, so that the byte slicing below is always on boundaries.
    if !is_valid_date(date) || !rest.is_ascii() || rest.len() < 9 {
        return None;
    }
    let number = |part: &str| -> Option<i64> {
        (part.len() == 2 && part.bytes().all(|b| b.is_ascii_digit())).then(|| part.parse().ok())?
    };
    let (hour, minute, second) = (
        number(&rest[0..2])?,
        number(&rest[3..5])?,
        number(&rest[6..8])?,
    );
    if &rest[2..3] != ":" || &rest[5..6] != ":" || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut zone = &rest[8..];
    if let Some(fraction) = zone.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        zone = &fraction[digits..];
    }
    let offset = match zone {
        "Z" | "z" => 0,
        _ => {
            let sign = match zone.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if zone.len() != 6 || &zone[3..4] != ":" {
                return None;
            }
            let (hours, minutes) = (number(&zone[1..3])?, number(&zone[4..6])?);
            // RFC 3339's time-numoffset: hours 00-23, minutes 00-59.
            if hours > 23 || minutes > 59 {
                return None;
            }
            sign * (hours * 3600 + minutes * 60)
        }
    };
    let year: i64 = date[0..4].parse().ok()?;
    let month: u32 = date[5..7].parse().ok()?;
    let day: u32 = date[8..10].parse().ok()?;
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

type Date = (i64, u32, u32);
type TimeOfDay = (i64, i64, i64);

/// Splits seconds since the epoch into a civil date and a time of day.
fn split(seconds: i64) -> (Date, TimeOfDay) {
    let days = seconds.div_euclid(86_400);
    let rest = seconds.rem_euclid(86_400);
    (
        civil_from_days(days),
        (rest / 3600, rest % 3600 / 60, rest % 60),
    )
}

/// The Gregorian date `days` after 1970-01-01.
fn civil_from_days(days: i64) -> Date {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153; // March = 0
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days from 1970-01-01 to a Gregorian date (the inverse of `civil_from_days`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = year - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let shifted_month = i64::from((month + 9) % 12); // March = 0
    let day_of_year = (153 * shifted_month + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_match_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_340_096), "2026-11-22T09:34:56Z");
    }

    #[test]
    fn http_dates_name_the_weekday() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(1_795_340_096), "Sun, 22 Nov 2026 09:34:56 GMT");
    }

    #[test]
    fn offsets_beyond_23_hours_or_59_minutes_are_refused() {
        assert_eq!(parse_rfc3339("2027-01-01T00:00:00+99:99"), None);
        assert_eq!(parse_rfc3339("2027-01-01T00:00:00-24:00"), None);
        assert_eq!(parse_rfc3339("2027-01-01T00:00:00+05:60"), None);
        assert!(parse_rfc3339("2027-01-01T00:00:00+23:59").is_some());
    }

    #[test]
    fn rfc3339_timestamps_parse_with_any_offset() {
        assert_eq!(parse_rfc3339("2026-11-22T09:34:56Z"), Some(1_795_340_096));
        assert_eq!(
            parse_rfc3339("2026-11-22T10:34:56.250+01:00"),
            Some(1_795_340_096)
        );
        assert_eq!(
            parse_rfc3339("2026-11-22T04:34:56-05:00"),
            Some(1_795_340_096)
        );
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        for bad in [
            "2026-11-22",
            "2026-11-22T09:34:56",
            "2026-02-30T00:00:00Z",
            "2026-11-22T24:00:00Z",
            "2026-11-22T09:34:56+0100",
            "2026-11-22T09:34:56.Z",
            "2026-11-22 09:34:56Z",
            "2026-11-22T0é:34:56Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        for seconds in [0, 951_782_400, 1_795_340_096, 4_102_444_800] {
            assert_eq!(parse_rfc3339(&rfc3339(seconds)), Some(seconds));
        }
    }

    #[test]
    fn only_real_calendar_dates_are_valid() {
        for good in ["2024-02-29", "2000-02-29", "2025-12-31", "0001-01-01"] {
            assert!(is_valid_date(good), "{good}");
        }
        for bad in [
            "2025-02-29",
            "1900-02-29",
            "2025-02-30",
            "2025-13-01",
            "2025-00-10",
            "2025-04-31",
            "2025-1-01",
            "2025/01/01",
            "20250101",
            "2025-01-01T00:00:00Z",
            "",
            "2025-0a-01",
        ] {
            assert!(!is_valid_date(bad), "{bad}");
        }
    }
}
