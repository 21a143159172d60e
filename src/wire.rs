//! Space-delimited lists as the protocols write them: `scope` (RFC 6749
//! §3.3), `amr` (RFC 8176), `prompt`, grant types. The one splitter, so no
//! module splits on spaces by hand; `oauth::Scope` builds its set on it.
//!
//! A leaf: imports nothing from the crate.

/// The non-empty words of a space-delimited list.
pub fn words(raw: &str) -> impl Iterator<Item = &str> {
    raw.split(' ').filter(|w| !w.is_empty())
}

#[cfg(test)]
mod tests {
    #[test]
    fn empty_words_from_repeated_spaces_are_dropped() {
        assert_eq!(super::words(" pwd  otp ").collect::<Vec<_>>(), ["pwd", "otp"]);
        assert_eq!(super::words("").count(), 0);
    }
}
