//! PaymentIntents this execution environment has seen credited, remembered for its life.
//!
//! Each payment arrives as several events, each delivered one or more times, and mostly close
//! together, so the same warm environment often sees the later ones. Remembering who credited a
//! PaymentIntent makes such a delivery cost no call at all. Bounded (least recently used goes
//! first), and only a shortcut: what it does not hold, the idempotency item is read for, and
//! the conditional transaction alone decides a credit.

use std::num::NonZeroUsize;
use std::sync::Mutex;

use lru::LruCache;

use super::CreditedBy;

pub const DEFAULT_CAPACITY: usize = 10_000;

pub struct KnownCredits {
    credited: Mutex<LruCache<Box<str>, Known>>,
}

/// Who credited a PaymentIntent, and whether this environment has logged that credit's notice
/// (it has not when it only read it back while the crediting message's answer was lost).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    pub by: CreditedBy,
    pub noticed: bool,
}

impl KnownCredits {
    pub fn new(capacity: usize) -> Self {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        KnownCredits {
            credited: Mutex::new(LruCache::new(capacity)),
        }
    }

    fn key(subscriber: &str, intent_id: &str) -> Box<str> {
        format!("{subscriber}#{intent_id}").into()
    }

    pub fn get(&self, subscriber: &str, intent_id: &str) -> Option<Known> {
        self.lock().get(&Self::key(subscriber, intent_id)).cloned()
    }

    /// Remembers that `by` credited the PaymentIntent (a credit, or proof of one), and whether
    /// this environment logged its notice.
    pub fn remember(&self, subscriber: &str, intent_id: &str, by: CreditedBy, noticed: bool) {
        self.lock()
            .put(Self::key(subscriber, intent_id), Known { by, noticed });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<Box<str>, Known>> {
        // A panic elsewhere while holding the lock leaves a usable memory.
        self.credited.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Default for KnownCredits {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by(message_id: &str) -> CreditedBy {
        CreditedBy {
            event_id: "evt_1".into(),
            message_id: message_id.into(),
            payment_id: "order-1".into(),
            amount: 100,
            currency: "eur".into(),
        }
    }

    #[test]
    fn remembers_per_subscriber_and_forgets_the_least_recent() {
        let known = KnownCredits::new(2);
        known.remember("acme", "pi_1", by("m-1"), true);
        assert_eq!(
            known.get("acme", "pi_1"),
            Some(Known {
                by: by("m-1"),
                noticed: true
            })
        );
        assert_eq!(known.get("globex", "pi_1"), None, "another subscriber's");
        known.remember("acme", "pi_2", by("m-2"), false);
        known.get("acme", "pi_1");
        known.remember("acme", "pi_3", by("m-3"), true);
        assert_eq!(known.get("acme", "pi_2"), None, "evicted");
        assert!(known.get("acme", "pi_1").is_some() && known.get("acme", "pi_3").is_some());
    }
}
