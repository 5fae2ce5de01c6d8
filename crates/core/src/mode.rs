//! Live or test: the deployment's Stripe mode, and the mode of a key, an event and a
//! PaymentIntent. Test money never credits a live deployment's records, and the three must agree.

/// A deployment's or a Stripe object's mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Live,
    Test,
}

impl Mode {
    /// The mode a Stripe secret or restricted key works in, from its prefix; `None` for
    /// anything that is not such a key (publishable keys included).
    pub fn of_key(key: &str) -> Option<Mode> {
        if key.starts_with("sk_live_") || key.starts_with("rk_live_") {
            Some(Mode::Live)
        } else if key.starts_with("sk_test_") || key.starts_with("rk_test_") {
            Some(Mode::Test)
        } else {
            None
        }
    }

    /// The mode of an object whose `livemode` is `livemode`.
    pub fn of_livemode(livemode: bool) -> Mode {
        if livemode { Mode::Live } else { Mode::Test }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "live" => Some(Mode::Live),
            "test" => Some(Mode::Test),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Live => "live",
            Mode::Test => "test",
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `livemode` as a mode, for messages: `none` when the field was missing.
pub fn describe(livemode: Option<bool>) -> &'static str {
    match livemode {
        Some(l) => Mode::of_livemode(l).as_str(),
        None => "none",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_prefixes_give_the_mode_and_nothing_else_does() {
        for (key, want) in [
            ("sk_live_abc", Some(Mode::Live)),
            ("rk_live_abc", Some(Mode::Live)),
            ("sk_test_abc", Some(Mode::Test)),
            ("rk_test_abc", Some(Mode::Test)),
            ("pk_live_abc", None),
            ("pk_test_abc", None),
            ("sk_livex", None),
            ("SK_LIVE_abc", None),
            ("", None),
            ("whsec_abc", None),
        ] {
            assert_eq!(Mode::of_key(key), want, "{key}");
        }
    }

    #[test]
    fn modes_parse_from_their_names_only() {
        assert_eq!(Mode::parse("live"), Some(Mode::Live));
        assert_eq!(Mode::parse("test"), Some(Mode::Test));
        assert_eq!(Mode::parse("Live"), None);
        assert_eq!(Mode::of_livemode(true), Mode::Live);
        assert_eq!(describe(None), "none");
    }
}
