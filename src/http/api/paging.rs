//! Cursor paging, the same on every list: `?limit=` (1 to [`MAX_LIMIT`],
//! default [`DEFAULT_LIMIT`]) and `?cursor=` (opaque: base64url of the
//! service's sort key of the last item sent). A list answers
//! `{"items": [...], "next_cursor": "..."}`; `next_cursor` is null on the
//! last page. Services fetch `limit + 1` rows after the key, so one query
//! tells whether another page exists.
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::problem::Problem;

/// Largest page.
pub const MAX_LIMIT: u32 = 200;
/// Page size when `limit` is not given.
pub const DEFAULT_LIMIT: u32 = 50;

/// The query of a list with no filters of its own (lists with filters
/// carry the same two fields).
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A page of items.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T: ToSchema> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// The checked `limit` (a 422 names the field when it is out of range).
pub fn limit(given: Option<u32>) -> Result<u32, Problem> {
    match given {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(Problem::invalid_field("limit", format!("limit must be 1 to {MAX_LIMIT}"))),
    }
}

/// Longest cursor accepted (ours are a time and an id or two).
const MAX_CURSOR: usize = 512;

/// The sort key a `cursor` carries (a 422 on `cursor` when it is not one of
/// ours). Cursors are opaque but not signed, so a forged one is checked like
/// any input: bounded, and no NUL (PostgreSQL refuses NUL in text, which
/// would otherwise surface as a 500).
pub fn after<K: DeserializeOwned>(cursor: Option<&str>) -> Result<Option<K>, Problem> {
    let Some(cursor) = cursor.filter(|c| !c.is_empty()) else { return Ok(None) };
    let bad = || Problem::invalid_field("cursor", "the cursor is not one this server handed out");
    if cursor.len() > MAX_CURSOR {
        return Err(bad());
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if super::body::has_nul(&value) {
        return Err(bad());
    }
    serde_json::from_value(value).map(Some).map_err(|_| bad())
}

/// The cursor for `key`.
pub fn cursor_of<K: Serialize>(key: &K) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(key).unwrap_or_default())
}

/// A page from `fetched` (up to `limit + 1` items, in order): the first
/// `limit`, and a cursor from the key of the last one sent when more exist.
pub fn page<T: ToSchema, K: Serialize>(mut fetched: Vec<T>, limit: u32, key: impl Fn(&T) -> K) -> Page<T> {
    let limit = limit as usize;
    let more = fetched.len() > limit;
    fetched.truncate(limit);
    let next_cursor = if more { fetched.last().map(|last| cursor_of(&key(last))) } else { None };
    Page { items: fetched, next_cursor }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Serialize, ToSchema, PartialEq)]
    struct Item {
        id: u32,
    }

    #[test]
    fn a_page_hands_out_the_key_of_its_last_item() {
        let fetched: Vec<Item> = (1..=4).map(|id| Item { id }).collect();
        let p = page(fetched, 3, |i| i.id);
        assert_eq!(p.items.len(), 3);
        let key: Option<u32> = after(p.next_cursor.as_deref()).unwrap();
        assert_eq!(key, Some(3));
        let last = page(vec![Item { id: 9 }], 3, |i| i.id);
        assert_eq!(last.next_cursor, None);
    }

    #[test]
    fn limits_and_cursors_are_checked() {
        assert_eq!(limit(None).unwrap(), DEFAULT_LIMIT);
        assert!(limit(Some(0)).is_err() && limit(Some(MAX_LIMIT + 1)).is_err());
        assert!(after::<u32>(Some("!!")).is_err());
        assert_eq!(after::<u32>(Some("")).unwrap(), None);
        let forged = cursor_of(&("t\u{0}", 1));
        assert!(after::<(String, i64)>(Some(&forged)).is_err(), "a NUL never reaches the database");
        assert!(after::<String>(Some(&cursor_of(&"x".repeat(600)))).is_err(), "bounded");
    }
}
