//! What the event log and attribution speak: event kinds, hashed keys, receipts.

use crate::{text, Micros, ValidationError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The kinds of ad event Endcap logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// An ad was rendered.
    Impression,
    /// An ad was clicked.
    Click,
    /// An online purchase reported by the retailer's site.
    Conversion,
    /// A holdout user would have seen the ad (a ghost impression).
    HoldoutExposure,
}

/// A SHA-256 hex digest standing in for a user or customer identifier (never raw PII).
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String)]
pub struct HashedKey(String);

impl HashedKey {
    /// Accepts 64 hex characters (case-folded to lower case).
    pub fn parse(s: &str, field: &str) -> Result<Self, ValidationError> {
        let s = s.trim();
        if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self(s.to_ascii_lowercase()))
        } else {
            Err(ValidationError::new(
                field,
                "must be a SHA-256 hex digest (64 hex characters)",
            ))
        }
    }

    /// Keys a raw identifier with the salt, HMAC-SHA256(salt, id), so the raw value never
    /// needs storing (an HMAC, not SHA-256(salt || id): no length-extension, and the salt
    /// is a real key).
    pub fn hash_raw(salt: &str, raw: &str) -> Self {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(salt.as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(raw.trim().as_bytes());
        Self(hex::encode(mac.finalize().into_bytes()))
    }

    /// The key of an external id (an OpenRTB `user.eids` entry: UID2's `uidapi.com`,
    /// RampID's `liveramp.com`, ...): HMAC-SHA256(salt, source, id), the source lower-cased.
    /// The identity-map upload stores it and the ad server computes it from bid requests, so
    /// both use the ad server's user-key salt (`ENDCAP_USER_KEY_SALT`).
    pub fn external_id(salt: &str, source: &str, id: &str) -> Self {
        Self::hash_raw(
            salt,
            &format!(
                "eid\u{1f}{}\u{1f}{}",
                source.trim().to_ascii_lowercase(),
                id.trim()
            ),
        )
    }

    /// The hex digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for HashedKey {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        HashedKey::parse(&s, "key").map_err(|e| e.message)
    }
}

impl From<HashedKey> for String {
    fn from(k: HashedKey) -> String {
        k.0
    }
}

/// A stock-keeping unit id, as the retailer's catalog spells it.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(transparent)]
#[schema(value_type = String)]
pub struct Sku(String);

impl Sku {
    /// Accepts a non-empty token without whitespace.
    pub fn parse(s: &str, field: &str) -> Result<Self, ValidationError> {
        text::token(s, field).map(Self)
    }

    /// The SKU text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where a sale happened.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// At a till in a physical store.
    #[default]
    InStore,
    /// On the retailer's site or app.
    Online,
    /// Ordered online, collected in store.
    Pickup,
}

/// One line of a receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReceiptLine {
    /// Product sold.
    pub sku: Sku,
    /// Brand (from the catalog when the POS export lacks it).
    pub brand: Option<String>,
    /// Category (from the catalog when the POS export lacks it).
    pub category: Option<String>,
    /// Units; negative for returns.
    pub quantity: i32,
    /// Line amount in micros; negative for returns.
    #[schema(value_type = i64)]
    pub amount_micros: Micros,
}

/// A purchase, online or at the till, keyed by the retailer's receipt id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Receipt {
    /// The retailer's id; ingesting it twice counts once.
    pub receipt_id: String,
    /// Hashed loyalty/customer key.
    pub customer_key: HashedKey,
    /// Store where it happened.
    pub store_id: String,
    /// Channel.
    pub channel: Channel,
    /// When (UTC).
    pub ts: DateTime<Utc>,
    /// Correction counter: a higher version replaces a lower one.
    pub version: i64,
    /// Lines (none: this version voids the receipt).
    pub lines: Vec<ReceiptLine>,
}

impl Receipt {
    /// Checks a receipt's own consistency, naming the first bad field.
    pub fn validate(&self) -> Result<(), ValidationError> {
        text::token(&self.receipt_id, "receipt_id")?;
        text::token(&self.store_id, "store_id")?;
        // A correction with no lines voids the receipt; a first version must have lines.
        if self.lines.is_empty() && self.version <= 1 {
            return Err(ValidationError::new(
                "lines",
                "must have at least one line (send a higher version with no lines to void a receipt)",
            ));
        }
        for (i, l) in self.lines.iter().enumerate() {
            if l.quantity == 0 {
                return Err(ValidationError::new(
                    format!("lines[{i}].quantity"),
                    "must not be 0",
                ));
            }
            // A sale and its amount share a sign; a return is negative in both.
            if (l.quantity > 0) != (l.amount_micros.get() >= 0) {
                return Err(ValidationError::new(
                    format!("lines[{i}].amount_micros"),
                    "must have the same sign as quantity",
                ));
            }
        }
        Ok(())
    }

    /// The receipt's total, or `None` if it overflows.
    pub fn total(&self) -> Option<Micros> {
        self.lines
            .iter()
            .try_fold(Micros::ZERO, |acc, l| acc.checked_add(l.amount_micros))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn external_ids_are_keyed_by_source_and_salt() {
        let k = HashedKey::external_id("salt", "uidapi.com", "A4A...=");
        assert_eq!(k, HashedKey::external_id("salt", " UIDAPI.com", "A4A...="));
        assert_ne!(k, HashedKey::external_id("salt", "liveramp.com", "A4A...="));
        assert_ne!(k, HashedKey::external_id("other", "uidapi.com", "A4A...="));
        assert_ne!(k, HashedKey::hash_raw("salt", "A4A...="));
        assert!(HashedKey::parse(k.as_str(), "k").is_ok());
    }

    #[test]
    fn hashed_keys_must_be_sha256_hex() {
        let k = HashedKey::hash_raw("salt", "loyalty-123");
        assert_eq!(HashedKey::parse(k.as_str(), "k").unwrap(), k);
        assert!(HashedKey::parse("abc", "k").is_err());
        assert!(HashedKey::parse(&"g".repeat(64), "k").is_err());
    }

    #[test]
    fn customer_keys_are_hmac_sha256_of_the_id_under_the_salt() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            HashedKey::hash_raw("Jefe", "what do ya want for nothing?").as_str(),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn the_salt_changes_the_hash() {
        assert_ne!(HashedKey::hash_raw("a", "x"), HashedKey::hash_raw("b", "x"));
    }

    proptest! {
        #[test]
        fn upper_case_digests_fold_to_lower(bytes in proptest::collection::vec(any::<u8>(), 32)) {
            let up = hex::encode_upper(&bytes);
            let k = HashedKey::parse(&up, "k").unwrap();
            prop_assert_eq!(k.as_str(), hex::encode(&bytes));
        }
    }
}
