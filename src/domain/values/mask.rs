//! Masking of identity numbers and mobiles, for logs, errors and answers.

/// Masks an identity number as `310***********1234`, whatever its length.
pub fn mask_id(s: &str) -> String {
    // One allocation and no char vector: masking runs for every number of every detail answered.
    // An ASCII number (every identity number and mobile) is cut at byte offsets without counting.
    let count = if s.is_ascii() { s.len() } else { s.chars().count() };
    if count <= 7 {
        return "*".repeat(count);
    }
    // Byte offsets of the fourth character and of the fourth from the end (any character width).
    let at = |nth: usize| if count == s.len() { nth } else { s.char_indices().nth(nth).map_or(s.len(), |(i, _)| i) };
    let (head_end, tail_start) = (at(3), at(count - 4));
    let mut out = String::with_capacity(s.len());
    out.push_str(&s[..head_end]);
    // A run of stars in one copy when it fits (an 18-digit number masks 11), not a push per star.
    const STARS: &str = "********************************";
    match STARS.get(..count - 7) {
        Some(stars) => out.push_str(stars),
        None => out.extend(std::iter::repeat_n('*', count - 7)),
    }
    out.push_str(&s[tail_start..]);
    out
}

/// Masks every run of 11 or more digits (an `X` may end one) in free text, such as an upstream
/// error message that quotes the identity number or mobile it was sent.
pub fn mask_digit_runs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.chars().count() >= 11 {
            out.push_str(&mask_id(run))
        } else {
            out.push_str(run)
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() || (matches!(c, 'X' | 'x') && !run.is_empty()) {
            run.push(c);
            if !c.is_ascii_digit() {
                flush(&mut run, &mut out);
            }
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// Masks a mobile number as `150****0000` (the same rule: three first, four last).
pub fn mask_mobile(s: &str) -> String {
    mask_id(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_of_any_length_and_width_keeps_three_first_and_four_last() {
        // As masking was written before its run of stars became one copy: a char at a time.
        let by_chars = |s: &str| {
            let c: Vec<char> = s.chars().collect();
            if c.len() <= 7 {
                return "*".repeat(c.len());
            }
            let stars = "*".repeat(c.len() - 7);
            format!("{}{stars}{}", c[..3].iter().collect::<String>(), c[c.len() - 4..].iter().collect::<String>())
        };
        for n in 0..=50 {
            for unit in ["7", "中", "a1"] {
                let s = unit.repeat(n);
                assert_eq!(mask_id(&s), by_chars(&s), "{s}");
            }
        }
    }
}
