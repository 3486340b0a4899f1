//! Free text and URLs a caller hands on.
use super::{FieldViolation, char_len};

/// A URL the service hands on: http or https, at most 500 characters, with a host.
pub fn parse_http_url(field: &'static str, s: &str) -> Result<String, FieldViolation> {
    if s.len() > 500 {
        return Err(FieldViolation::new(field, "must be at most 500 characters"));
    }
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .ok_or_else(|| FieldViolation::new(field, "must be an http or https URL"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(FieldViolation::new(field, "must be an http or https URL with a host"));
    }
    Ok(s.to_owned())
}

/// A free-text field with a length limit in characters (seeds' 最大长度), empty meaning absent.
pub fn parse_optional_text(field: &'static str, s: &str, max: usize) -> Result<Option<String>, FieldViolation> {
    if char_len(s) > max {
        return Err(FieldViolation::new(field, format!("must be at most {max} characters")));
    }
    if s.chars().any(char::is_control) {
        return Err(FieldViolation::new(field, "must not contain control characters"));
    }
    Ok((!s.is_empty()).then(|| s.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_http_with_a_host() {
        assert!(parse_http_url("redirect_url", "https://etc.example.com/done").is_ok());
        assert!(parse_http_url("redirect_url", "javascript:alert(1)").is_err());
        assert!(parse_http_url("redirect_url", "https:///x").is_err());
    }
}
