//! Quiet hours: a daily range of local time, in an IANA time zone, when nothing may be sent.

use jiff::Timestamp;
use jiff::tz::TimeZone;

/// Minutes in a day.
const DAY: u16 = 24 * 60;

/// A daily range `start..end` in minutes after local midnight; it wraps midnight when
/// `start > end` (`22:00-08:00`). The start is inside, the end is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    start: u16,
    end: u16,
}

impl Range {
    /// Reads `HH:MM-HH:MM` (the end may be `24:00`).
    pub fn parse(text: &str) -> Result<Range, String> {
        let bad = |why: &str| format!("config key `quiet_hours`: `{text}` {why}");
        let (start, end) = text.split_once('-').ok_or_else(|| bad("is not HH:MM-HH:MM"))?;
        let start = minutes(start)
            .filter(|&m| m < DAY)
            .ok_or_else(|| bad("has a bad start"))?;
        let end = minutes(end).ok_or_else(|| bad("has a bad end"))?;
        if start == end {
            return Err(bad("is empty (start and end are equal)"));
        }
        Ok(Range { start, end })
    }

    /// Whether `minute` (after local midnight) falls in the range.
    pub fn contains(self, minute: u16) -> bool {
        if self.start < self.end {
            (self.start..self.end).contains(&minute)
        } else {
            minute >= self.start || minute < self.end
        }
    }

    /// The range as `HH:MM-HH:MM`.
    pub fn label(self) -> String {
        let hm = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
        format!("{}-{}", hm(self.start), hm(self.end))
    }
}

/// `H:MM` or `HH:MM` as minutes after midnight, up to `24:00`.
fn minutes(text: &str) -> Option<u16> {
    let (hours, mins) = text.trim().split_once(':')?;
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(hours) || hours.len() > 2 || mins.len() != 2 || !all_digits(mins) {
        return None;
    }
    let (hours, mins): (u16, u16) = (hours.parse().ok()?, mins.parse().ok()?);
    let total = hours * 60 + mins;
    (mins < 60 && total <= DAY).then_some(total)
}

/// The time zone called `name` in the bundled tz database.
pub fn zone(name: &str) -> Result<TimeZone, String> {
    TimeZone::get(name).map_err(|_| format!("config key `timezone`: unknown time zone `{name}`"))
}

/// Quiet hours in a time zone.
#[derive(Debug, Clone)]
pub struct QuietHours {
    range: Range,
    zone_name: String,
    zone: TimeZone,
}

impl QuietHours {
    /// Reads `quiet_hours` and `timezone` (an IANA name such as `Asia/Karachi`).
    pub fn parse(range: &str, zone_name: &str) -> Result<QuietHours, String> {
        let zone = zone(zone_name)?;
        Ok(QuietHours {
            range: Range::parse(range)?,
            zone_name: zone_name.to_owned(),
            zone,
        })
    }

    /// Why nothing may be sent at `now_ms` (ms since the Unix epoch), or `None`.
    pub fn check(&self, now_ms: u64) -> Option<String> {
        let minute = self.local_minute(now_ms)?;
        self.range
            .contains(minute)
            .then(|| format!("quiet hours {} {}", self.range.label(), self.zone_name))
    }

    /// Minutes after local midnight at `now_ms`; `None` for an instant jiff cannot represent.
    fn local_minute(&self, now_ms: u64) -> Option<u16> {
        let instant = Timestamp::from_millisecond(i64::try_from(now_ms).ok()?).ok()?;
        let time = self.zone.to_datetime(instant).time();
        Some(time.hour() as u16 * 60 + time.minute() as u16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(text: &str) -> Range {
        Range::parse(text).unwrap()
    }

    #[test]
    fn a_day_range_holds_its_start_but_not_its_end() {
        let r = range("09:00-17:30");
        assert!(!r.contains(8 * 60 + 59));
        assert!(r.contains(9 * 60));
        assert!(r.contains(17 * 60 + 29));
        assert!(!r.contains(17 * 60 + 30));
    }

    #[test]
    fn a_night_range_wraps_midnight() {
        let r = range("22:00-08:00");
        assert!(r.contains(22 * 60));
        assert!(r.contains(23 * 60 + 59));
        assert!(r.contains(0));
        assert!(r.contains(7 * 60 + 59));
        assert!(!r.contains(8 * 60));
        assert!(!r.contains(12 * 60));
    }

    #[test]
    fn parses_loose_but_refuses_bad_ranges() {
        assert_eq!(range(" 7:05 - 24:00 ").label(), "07:05-24:00");
        assert!(range("00:00-24:00").contains(0) && range("00:00-24:00").contains(DAY - 1));
        for bad in [
            "",
            "22:00",
            "25:00-08:00",
            "22:60-08:00",
            "aa:bb-08:00",
            "10:00-10:00",
            "24:00-08:00",
        ] {
            assert!(Range::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn quiet_hours_follow_the_time_zone() {
        let q = QuietHours::parse("22:00-08:00", "Asia/Karachi").unwrap();
        // 2025-01-15T18:30:00Z is 23:30 in Karachi (UTC+5); 2025-01-15T06:00:00Z is 11:00.
        let night = 1_736_965_800_000;
        let day = 1_736_920_800_000;
        assert_eq!(q.check(night).as_deref(), Some("quiet hours 22:00-08:00 Asia/Karachi"));
        assert_eq!(q.check(day), None);
    }

    #[test]
    fn daylight_saving_time_is_applied() {
        let q = QuietHours::parse("08:00-09:00", "Europe/London").unwrap();
        // 2025-07-01T07:30:00Z is 08:30 in London (BST, UTC+1); in UTC it is 07:30.
        let summer = 1_751_355_000_000;
        assert!(q.check(summer).is_some());
        let utc = QuietHours::parse("08:00-09:00", "UTC").unwrap();
        assert!(utc.check(summer).is_none());
    }

    #[test]
    fn an_unknown_time_zone_is_refused() {
        let err = QuietHours::parse("22:00-08:00", "Mars/Olympus").unwrap_err();
        assert!(err.contains("unknown time zone `Mars/Olympus`"), "{err}");
    }
}
