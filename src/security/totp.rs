//! Time-based one-time passwords (RFC 6238, over HOTP from RFC 4226), the
//! `otpauth://` URI authenticator apps scan, and its QR code as SVG.
//!
//! Pure functions: the caller passes the time. A code is accepted for the
//! current 30 s step and one step either side (RFC 6238 §5.2 allows a small
//! window for clock drift), and only for a step later than the last one the
//! user spent, so a code cannot be replayed within its window.
use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// RFC 6238 §4.1: X, the time step.
pub const STEP_SECS: i64 = 30;
/// Digits per code (RFC 4226 §5.3 recommends at least 6).
pub const DIGITS: u32 = 6;
/// Steps accepted either side of now (RFC 6238 §5.2 recommends at most one).
const DRIFT_STEPS: i64 = 1;
/// Bytes in a new secret: 160 bits, the HMAC-SHA-1 block-size advice of RFC 4226 §4 R6.
pub const SECRET_BYTES: usize = 20;

/// Errors from QR rendering.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the text does not fit in a QR code")]
    Qr(#[from] qrcode::types::QrError),
}

/// RFC 6238 §4.2: T = floor((now - T0) / X), with T0 = 0.
pub fn step_at(now: i64) -> i64 {
    now.div_euclid(STEP_SECS)
}

/// RFC 4226 §5.3: HOTP(K, C) = Truncate(HMAC-SHA-1(K, C)) mod 10^digits.
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    // HMAC takes keys of any length, so this cannot fail.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret) else { return 0 };
    mac.update(&counter.to_be_bytes());
    let hash = mac.finalize().into_bytes();
    let offset = usize::from(hash[hash.len() - 1] & 0x0f);
    let bin = u32::from_be_bytes([hash[offset] & 0x7f, hash[offset + 1], hash[offset + 2], hash[offset + 3]]);
    bin % 10u32.pow(digits)
}

/// The code for a time step, zero-padded.
pub fn code_at_step(secret: &[u8], step: i64) -> String {
    format!("{:0width$}", hotp(secret, step.max(0) as u64, DIGITS), width = DIGITS as usize)
}

/// Checks `code` at `now`. Returns the step it matched, which the caller
/// stores as the new `last_step`; `None` for a wrong code or a code whose step
/// is not after `last_step` (a replay, RFC 6238 §5.2).
pub fn verify(secret: &[u8], code: &str, now: i64, last_step: i64) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = step_at(now);
    // Check every candidate step so timing does not tell which one matched.
    let mut matched = None;
    for step in (current - DRIFT_STEPS)..=(current + DRIFT_STEPS) {
        let ok = bool::from(code_at_step(secret, step).as_bytes().ct_eq(code.as_bytes()));
        if ok && step > last_step && matched.is_none() {
            matched = Some(step);
        }
    }
    matched
}

/// RFC 4648 §6 base32 without padding, as authenticator apps expect.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The key URI authenticator apps scan (Google Authenticator's `otpauth`
/// format): `otpauth://totp/Issuer:account?secret=…&issuer=Issuer&…`.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let label = format!("{issuer}:{account}");
    let mut url = String::from("otpauth://totp/");
    url.push_str(&url::form_urlencoded::byte_serialize(label.as_bytes()).collect::<String>().replace('+', "%20"));
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("secret", &base32(secret))
        .append_pair("issuer", issuer)
        .append_pair("algorithm", "SHA1")
        .append_pair("digits", &DIGITS.to_string())
        .append_pair("period", &STEP_SECS.to_string())
        .finish();
    format!("{url}?{query}")
}

/// The QR code for `text` as an SVG document, drawn server-side so the page
/// needs no script and nothing from outside.
pub fn qr_svg(text: &str) -> Result<String, Error> {
    use qrcode::render::svg;
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)?;
    let svg = code.render::<svg::Color<'_>>().min_dimensions(200, 200).quiet_zone(true).build();
    // Drop the XML declaration so the SVG can sit inline in the page.
    Ok(svg.find("<svg").map(|i| svg[i..].to_owned()).unwrap_or(svg))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B: the SHA-1 seed is the ASCII string "12345678901234567890".
    const RFC_SEED: &[u8] = b"12345678901234567890";

    #[test]
    fn matches_the_rfc_6238_appendix_b_sha1_vectors() {
        // (time, 8-digit TOTP) from the table in RFC 6238 Appendix B.
        let vectors = [
            (59, 94_287_082),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ];
        for (time, expected) in vectors {
            assert_eq!(hotp(RFC_SEED, step_at(time) as u64, 8), expected, "T = {time}");
        }
    }

    #[test]
    fn accepts_one_step_of_drift_either_side_rfc_6238_5_2() {
        let now = 1_000_000_000;
        let step = step_at(now);
        for s in [step - 1, step, step + 1] {
            assert_eq!(verify(RFC_SEED, &code_at_step(RFC_SEED, s), now, 0), Some(s));
        }
        assert_eq!(verify(RFC_SEED, &code_at_step(RFC_SEED, step - 2), now, 0), None);
        assert_eq!(verify(RFC_SEED, &code_at_step(RFC_SEED, step + 2), now, 0), None);
    }

    #[test]
    fn refuses_a_replayed_code_in_its_own_window_rfc_6238_5_2() {
        let now = 1_000_000_000;
        let code = code_at_step(RFC_SEED, step_at(now));
        let used = verify(RFC_SEED, &code, now, 0).unwrap();
        assert_eq!(verify(RFC_SEED, &code, now, used), None);
        assert_eq!(verify(RFC_SEED, &code, now + 29, used), None);
        // An older step is refused once a later one was spent.
        let older = code_at_step(RFC_SEED, step_at(now) - 1);
        assert_eq!(verify(RFC_SEED, &older, now, used), None);
    }

    #[test]
    fn refuses_malformed_codes() {
        for code in ["", "12345", "1234567", "12a456", "١٢٣٤٥٦"] {
            assert_eq!(verify(RFC_SEED, code, 1_000_000_000, 0), None, "{code}");
        }
        let code = code_at_step(RFC_SEED, step_at(1_000_000_000));
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert!(verify(RFC_SEED, &spaced, 1_000_000_000, 0).is_some());
    }

    #[test]
    fn base32_matches_rfc_4648_section_10() {
        // RFC 4648 §10 vectors, without the padding.
        for (plain, encoded) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn the_uri_and_qr_code_carry_the_secret() {
        let uri = otpauth_uri("gatehouse", "alice smith", RFC_SEED);
        assert!(uri.starts_with(
            "otpauth://totp/gatehouse%3Aalice%20smith?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=gatehouse"
        ));
        let svg = qr_svg(&uri).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("</svg>"));
    }
}
