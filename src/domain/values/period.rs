//! An identity card's validity period.
use std::fmt;

use chrono::{Datelike, NaiveDate};

use super::FieldViolation;

/// 证件有效期: `yyyy.MM.dd-yyyy.MM.dd`, or `yyyy.MM.dd-长期` for a card that never expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidPeriod {
    pub start: NaiveDate,
    /// `None`: long-term (长期).
    pub end: Option<NaiveDate>,
}

impl ValidPeriod {
    pub fn parse(field: &'static str, s: &str, today: NaiveDate) -> Result<Self, FieldViolation> {
        let period = Self::read_back(field, s)?;
        if period.start > today {
            return Err(FieldViolation::new(field, "starts in the future"));
        }
        if let Some(end) = period.end {
            if end <= period.start {
                return Err(FieldViolation::new(field, "must end after it starts"));
            }
            if end < today {
                return Err(FieldViolation::new(field, "has expired"));
            }
        }
        Ok(period)
    }

    /// A period given earlier, read back: its form is checked, not the calendar (it was valid when
    /// given and may have expired since).
    pub fn read_back(field: &'static str, s: &str) -> Result<Self, FieldViolation> {
        const FORM: &str = "must be yyyy.MM.dd-yyyy.MM.dd or yyyy.MM.dd-长期";
        if s.is_empty() {
            return Err(FieldViolation::new(field, "is required"));
        }
        let (a, b) = s.split_once('-').ok_or_else(|| FieldViolation::new(field, FORM))?;
        let date = |x: &str| {
            if x.len() != 10 {
                return None;
            }
            NaiveDate::parse_from_str(x, "%Y.%m.%d").ok()
        };
        let start = date(a).ok_or_else(|| FieldViolation::new(field, FORM))?;
        let end = match b {
            "长期" => None,
            _ => Some(date(b).ok_or_else(|| FieldViolation::new(field, FORM))?),
        };
        Ok(Self { start, end })
    }
}

impl fmt::Display for ValidPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_date(f, self.start)?;
        f.write_str("-")?;
        match self.end {
            Some(end) => write_date(f, end),
            None => f.write_str("长期"),
        }
    }
}

/// `yyyy.MM.dd` as chrono's `%Y.%m.%d` writes it, without parsing that pattern on every call:
/// every detail answered writes a period (two `format` calls were 4,500 instructions a read).
fn write_date(f: &mut fmt::Formatter<'_>, date: NaiveDate) -> fmt::Result {
    let Ok(year @ 0..=9999) = u32::try_from(date.year()) else {
        return write!(f, "{}", date.format("%Y.%m.%d"));
    };
    let mut text = *b"0000.00.00";
    let mut put = |at: usize, width: usize, mut n: u32| {
        for i in (at..at + width).rev() {
            text[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    put(0, 4, year);
    put(5, 2, date.month());
    put(8, 2, date.day());
    f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 24).unwrap()
    }

    #[test]
    fn a_period_is_written_as_chrono_writes_its_dates() {
        let days = [
            (0, 1, 1),
            (1, 2, 3),
            (999, 12, 31),
            (2019, 1, 1),
            (2039, 10, 9),
            (9999, 12, 31),
            (10000, 1, 1),
            (-1, 6, 15),
        ];
        for (y, m, d) in days {
            let start = NaiveDate::from_ymd_opt(y, m, d).unwrap();
            for end in [None, Some(start)] {
                let chrono = match end {
                    Some(e) => format!("{}-{}", start.format("%Y.%m.%d"), e.format("%Y.%m.%d")),
                    None => format!("{}-长期", start.format("%Y.%m.%d")),
                };
                assert_eq!(ValidPeriod { start, end }.to_string(), chrono);
            }
        }
    }

    #[test]
    fn valid_period_accepts_both_seed_forms_and_rejects_expired_cards() {
        let p = ValidPeriod::parse("valid_period", "2019.01.01-2039.01.01", today()).unwrap();
        assert_eq!(p.to_string(), "2019.01.01-2039.01.01");
        assert_eq!(ValidPeriod::parse("valid_period", "2019.01.01-长期", today()).unwrap().end, None);
        for bad in [
            "2010.09.02-2020.09.01",
            "2019.13.01-2039.01.01",
            "2019.01.01",
            "2039.01.01-2019.01.01",
            "2027.01.01-2039.01.01",
            "2019.1.1-2039.1.1",
        ] {
            assert!(ValidPeriod::parse("valid_period", bad, today()).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_expired_period_reads_back_in_the_form_it_was_given() {
        let p = ValidPeriod::read_back("valid_period", "2010.09.02-2020.09.01").unwrap();
        assert_eq!(p.to_string(), "2010.09.02-2020.09.01");
        assert!(ValidPeriod::read_back("valid_period", "2010.09.02").is_err());
    }
}
