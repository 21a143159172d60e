//! See `json_api` (tests for this area).
