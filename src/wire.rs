//! Space-delimited lists as the protocols write them: `scope` (RFC 6749
//! §3.3), `amr` (RFC 8176), `prompt`, grant types. The one splitter, so no
//! module splits on spaces by hand; `oauth::Scope` builds its set on it.
//!
//! Also the entity tag of an API resource ([`etag`], RFC 9110 §8.8.3).
//!
//! A leaf: imports nothing from the crate.
use sha2::{Digest, Sha256};

/// The non-empty words of a space-delimited list.
pub fn words(raw: &str) -> impl Iterator<Item = &str> {
    raw.split(' ').filter(|w| !w.is_empty())
}

/// A strong entity tag (quoted, as sent in `ETag`) of a resource's state:
/// a hash of the given fields, each length-prefixed so no two states
/// collide by concatenation. The service that owns the resource lists the
/// fields an update may change (and compares the tag inside the update's
/// transaction, so two writers cannot both win).
pub fn etag(fields: &[&str]) -> String {
    let mut h = Sha256::new();
    for field in fields {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    }
    let hex: String = h.finalize().iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// Whether an `If-Match` value (RFC 9110 §13.1.1: `*` or a list of tags)
/// matches the current tag, by strong comparison.
pub fn if_match(header: &str, current: &str) -> bool {
    header.split(',').map(str::trim).any(|t| t == "*" || t == current)
}

#[cfg(test)]
mod tests {
    #[test]
    fn empty_words_from_repeated_spaces_are_dropped() {
        assert_eq!(super::words(" pwd  otp ").collect::<Vec<_>>(), ["pwd", "otp"]);
        assert_eq!(super::words("").count(), 0);
    }

    #[test]
    fn etags_are_quoted_and_tell_states_apart_rfc_9110_8_8_3() {
        let a = super::etag(&["ab", "c"]);
        assert!(a.starts_with('"') && a.ends_with('"'));
        assert_ne!(a, super::etag(&["a", "bc"]));
        assert!(super::if_match(&format!("\"x\", {a}"), &a));
        assert!(super::if_match("*", &a));
        assert!(!super::if_match(&format!("W/{a}"), &a), "a weak tag never matches strongly");
    }
}
