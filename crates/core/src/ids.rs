//! The shapes of the ids payhook keys things by, checked wherever they come in.

/// Subscriber ids are used in DynamoDB keys and log lines; keep them short and plain.
pub const MAX_SUBSCRIBER_LEN: usize = 64;
/// Key ids (consumer keys and issuers) name a key in a bundle and in the key set.
pub const MAX_KEY_ID_LEN: usize = 32;

/// Subscriber ids go into DynamoDB keys joined with `#`, so they may not contain it.
pub fn is_valid_subscriber(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_SUBSCRIBER_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A consumer key's or issuer's id: 1-32 of `A-Z a-z 0-9 _ -`.
pub fn is_valid_key_id(kid: &str) -> bool {
    !kid.is_empty()
        && kid.len() <= MAX_KEY_ID_LEN
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_short_and_plain() {
        assert!(is_valid_subscriber("acme-eu_1"));
        assert!(is_valid_key_id("2026-11"));
        for bad in ["", "a#b", "a b", "ä"] {
            assert!(!is_valid_subscriber(bad), "{bad:?}");
            assert!(!is_valid_key_id(bad), "{bad:?}");
        }
        assert!(!is_valid_subscriber(&"x".repeat(65)));
        assert!(!is_valid_key_id(&"x".repeat(33)));
    }
}
