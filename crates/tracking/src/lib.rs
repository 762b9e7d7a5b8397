//! Signed tracking tokens.
//!
//! Every impression, click and billing URL the ad server hands out carries a token: the
//! exposure (ids, prices, the token's kind and, for clicks, the landing page) signed with
//! HMAC-SHA256 under a key from a [`KeyRing`]. The token's key
//! id lets keys rotate: the first key signs, every key verifies. A tampered, expired,
//! unsigned or unknown-key token is refused with a [`TokenError`] whose [`TokenError::reason`]
//! is a stable metric label. Because the price and the landing page live inside the signed
//! token, a click cannot be redirected elsewhere and an ad never served cannot be billed.
#![warn(missing_docs)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use endcap_core::Exposure;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Longest token accepted; anything bigger is not ours.
pub const MAX_TOKEN_LEN: usize = 4096;
const MIN_SECRET_LEN: usize = 16;

/// Which endpoint a token is for: a token of one kind is refused by the others, and each
/// kind has its own lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TokenKind {
    /// The impression pixel (`/v1/events/impression`).
    #[serde(rename = "i")]
    Impression,
    /// The click redirect (`/v1/events/click`).
    #[serde(rename = "c")]
    Click,
    /// An exchange's billing notice (`/v1/events/bill`).
    #[serde(rename = "b")]
    Bill,
    /// An exchange's loss notice (`/v1/events/loss`): releases a reservation, never bills.
    #[serde(rename = "l")]
    Loss,
    /// A custom event of the placed ad (`/v1/events/custom`: add to cart, view-through, ...):
    /// logged, never charged. The event's name is signed into the token.
    #[serde(rename = "e")]
    Event,
}

impl TokenKind {
    /// A stable label for metrics and dedup keys.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Impression => "impression",
            TokenKind::Click => "click",
            TokenKind::Bill => "bill",
            TokenKind::Loss => "loss",
            TokenKind::Event => "event",
        }
    }
}

/// What a token asserts: the exposure (ids and prices only, never features: publishers can
/// read tokens), the endpoint it is for, and for clicks the landing page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The endpoint it is for.
    #[serde(rename = "k")]
    pub kind: TokenKind,
    /// Landing page of a click ("" for other kinds).
    #[serde(rename = "x", default, skip_serializing_if = "String::is_empty")]
    pub click_url: String,
    /// Offsite: the exchange's name (which decides how its price arrives).
    #[serde(rename = "n", default, skip_serializing_if = "String::is_empty")]
    pub exchange: String,
    /// Offsite: the currency we bid in, when not the marketplace's.
    #[serde(rename = "u", default, skip_serializing_if = "String::is_empty")]
    pub currency: String,
    /// Test traffic (OpenRTB `test=1`): answered, never billed nor counted as delivery.
    #[serde(rename = "t", default, skip_serializing_if = "std::ops::Not::not")]
    pub test: bool,
    /// The ad and its decision.
    #[serde(rename = "v")]
    pub exposure: Exposure,
    /// A custom event's name ("" for other kinds).
    #[serde(rename = "a", default, skip_serializing_if = "String::is_empty")]
    pub event: String,
}

impl Claims {
    /// Claims of `kind` for an exposure.
    pub fn new(kind: TokenKind, exposure: &Exposure, click_url: &str) -> Self {
        Self {
            kind,
            click_url: if kind == TokenKind::Click {
                click_url.to_string()
            } else {
                String::new()
            },
            exchange: String::new(),
            currency: String::new(),
            test: false,
            exposure: exposure.clone(),
            event: String::new(),
        }
    }

    /// Claims of a custom event named `name` for an exposure.
    pub fn custom_event(exposure: &Exposure, name: &str) -> Self {
        let mut c = Self::new(TokenKind::Event, exposure, "");
        c.event = name.to_string();
        c
    }

    /// The same claims for an offsite bid on `exchange`, priced in `currency` ("" for the
    /// marketplace's).
    pub fn offsite(mut self, exchange: &str, currency: &str, test: bool) -> Self {
        self.exchange = exchange.to_string();
        self.currency = currency.to_string();
        self.test = test;
        self
    }
}

/// What a token asserts besides its exposure, borrowed: the fields of [`Claims`] but `v`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimsHead<'a> {
    /// The endpoint it is for.
    pub kind: TokenKind,
    /// Landing page of a click ("" for other kinds).
    pub click_url: &'a str,
    /// Offsite: the exchange's name.
    pub exchange: &'a str,
    /// Offsite: the currency we bid in, when not the marketplace's.
    pub currency: &'a str,
    /// Test traffic.
    pub test: bool,
    /// A custom event's name ("" for other kinds).
    pub event: &'a str,
}

impl<'a> ClaimsHead<'a> {
    /// A head of `kind` with nothing else set.
    pub fn of(kind: TokenKind) -> Self {
        Self {
            kind,
            click_url: "",
            exchange: "",
            currency: "",
            test: false,
            event: "",
        }
    }
}

impl Claims {
    /// Its fields besides the exposure.
    pub fn head(&self) -> ClaimsHead<'_> {
        ClaimsHead {
            kind: self.kind,
            click_url: &self.click_url,
            exchange: &self.exchange,
            currency: &self.currency,
            test: self.test,
            event: &self.event,
        }
    }
}

/// How new tokens are written; [`KeyRing::verify`] reads both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenFormat {
    /// Binary fields (since issue 12): a third of the JSON's size.
    #[default]
    Compact,
    /// The claims' JSON, as releases before the compact payload wrote and read them: for a
    /// rolling upgrade from such a release, whose replicas cannot read compact tokens, and
    /// for as long as a rollback to it must stay possible (tokens live up to 7 days).
    Json,
}

impl TokenFormat {
    /// Parses `compact` or `json`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "compact" => Some(Self::Compact),
            "json" => Some(Self::Json),
            _ => None,
        }
    }
}

/// Signs several tokens of one exposure ([`KeyRing::signer`]).
pub struct Signer<'k> {
    ring: &'k KeyRing,
    /// The payload being signed: the exposure's part, written once, then each token's
    /// head (compact), or each token's claims JSON (JSON).
    payload: Vec<u8>,
    /// Compact: where the exposure's part ends. JSON: 0.
    shared: usize,
    /// JSON: the exposure's JSON, written once.
    exposure: Vec<u8>,
}

impl Signer<'_> {
    /// Appends the token of `head` and the exposure to `out` (`kid.payload.signature`, in
    /// the ring's [`TokenFormat`]; [`KeyRing::verify`] reads it back).
    pub fn sign_into(&mut self, head: &ClaimsHead<'_>, out: &mut String) {
        let (kid, keyed) = &self.ring.keys[0];
        let p = &mut self.payload;
        p.truncate(self.shared);
        match self.ring.format {
            TokenFormat::Compact => compact::put_head(p, head),
            TokenFormat::Json => Self::put_json(p, head, &self.exposure),
        }
        let start = out.len();
        out.reserve(kid.len() + p.len() * 4 / 3 + 48);
        out.push_str(kid);
        out.push('.');
        B64.encode_string(&*p, out);
        let sig = KeyRing::mac(keyed, &out[start..]).finalize().into_bytes();
        out.push('.');
        B64.encode_string(sig, out);
    }

    /// The same bytes `serde_json::to_vec(&Claims)` gives.
    fn put_json(p: &mut Vec<u8>, head: &ClaimsHead<'_>, exposure: &[u8]) {
        // Field order and omissions as `Claims` derives them: k, x, n, u, t, v, a.
        p.extend_from_slice(b"{\"k\":\"");
        p.extend_from_slice(match head.kind {
            TokenKind::Impression => b"i",
            TokenKind::Click => b"c",
            TokenKind::Bill => b"b",
            TokenKind::Loss => b"l",
            TokenKind::Event => b"e",
        });
        p.push(b'"');
        for (name, v) in [
            (&b",\"x\":"[..], head.click_url),
            (&b",\"n\":"[..], head.exchange),
            (&b",\"u\":"[..], head.currency),
        ] {
            if !v.is_empty() {
                p.extend_from_slice(name);
                // A string to JSON cannot fail.
                let _ = serde_json::to_writer(&mut *p, v);
            }
        }
        if head.test {
            p.extend_from_slice(b",\"t\":true");
        }
        p.extend_from_slice(b",\"v\":");
        p.extend_from_slice(exposure);
        if !head.event.is_empty() {
            p.extend_from_slice(b",\"a\":");
            let _ = serde_json::to_writer(&mut *p, head.event);
        }
        p.push(b'}');
    }
}

/// Longest custom event name.
pub const MAX_EVENT_NAME_LEN: usize = 32;

/// Whether `name` may name a custom event: 1-32 lower-case letters, digits and `_`, and
/// not `impression` or `click` (those have their own endpoints and meaning).
pub fn valid_event_name(name: &str) -> bool {
    (1..=MAX_EVENT_NAME_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !matches!(name, "impression" | "click")
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not shaped like a token, or its payload does not decode.
    #[error("malformed token")]
    Malformed,
    /// Signed with a key id this server does not know.
    #[error("token signed with an unknown key")]
    UnknownKey,
    /// The signature does not match: the token was altered or forged.
    #[error("token signature does not match")]
    BadSignature,
    /// Older than the allowed age.
    #[error("token expired")]
    Expired,
    /// Issued in the future (beyond clock skew): forged or a broken clock.
    #[error("token issued in the future")]
    NotYetValid,
    /// A valid token for another endpoint (an impression token sent as a click).
    #[error("token is for another event type")]
    WrongKind,
}

impl TokenError {
    /// A stable label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            TokenError::Malformed => "malformed",
            TokenError::UnknownKey => "unknown_key",
            TokenError::BadSignature => "bad_signature",
            TokenError::Expired => "expired",
            TokenError::NotYetValid => "not_yet_valid",
            TokenError::WrongKind => "wrong_kind",
        }
    }
}

/// Why a key ring could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("signing keys: {0}")]
pub struct KeyRingError(String);

/// Signing keys: the first signs, all verify.
#[derive(Clone)]
pub struct KeyRing {
    /// Each key id with its HMAC already keyed (cloned per token: keying hashes two blocks).
    keys: Vec<(String, Hmac<Sha256>)>,
    /// How new tokens are written.
    format: TokenFormat,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(k, _)| k.as_str()).collect();
        write!(f, "KeyRing({ids:?})")
    }
}

impl KeyRing {
    /// Parses `kid:secret[,kid:secret]` (the `ENDCAP_SIGNING_KEYS` format). Key ids are
    /// 1–16 characters of letters, digits, `_` and `-`; secrets at least 16 bytes.
    pub fn parse(spec: &str) -> Result<Self, KeyRingError> {
        let mut keys: Vec<(String, Hmac<Sha256>)> = Vec::new();
        for (i, part) in spec.split(',').map(str::trim).enumerate() {
            let (kid, secret) = part
                .split_once(':')
                .ok_or_else(|| KeyRingError(format!("entry {} is not kid:secret", i + 1)))?;
            let kid_ok = (1..=16).contains(&kid.len())
                && kid
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !kid_ok {
                return Err(KeyRingError(format!(
                    "entry {}: key id must be 1-16 letters, digits, _ or -",
                    i + 1
                )));
            }
            if secret.len() < MIN_SECRET_LEN {
                return Err(KeyRingError(format!(
                    "entry {} ({kid}): secret must be at least {MIN_SECRET_LEN} bytes",
                    i + 1
                )));
            }
            if keys.iter().any(|(k, _)| k == kid) {
                return Err(KeyRingError(format!("key id {kid} appears twice")));
            }
            // HMAC takes keys of any length; this cannot fail.
            let mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
                .unwrap_or_else(|_| unreachable!());
            keys.push((kid.to_string(), mac));
        }
        Ok(Self {
            keys,
            format: TokenFormat::default(),
        })
    }

    fn mac(keyed: &Hmac<Sha256>, signed: &str) -> Hmac<Sha256> {
        let mut m = keyed.clone();
        m.update(signed.as_bytes());
        m
    }

    /// Signs claims with the first key: `kid.payload.signature`, URL-safe.
    pub fn sign(&self, claims: &Claims) -> String {
        let mut out = String::new();
        self.signer(&claims.exposure)
            .sign_into(&claims.head(), &mut out);
        out
    }

    /// Signs the tokens of one exposure: its binary form is written once, each token
    /// (impression, click, custom events...) then costs a small head, a base64 pass and one
    /// HMAC.
    pub fn signer(&self, exposure: &Exposure) -> Signer<'_> {
        let mut payload = Vec::with_capacity(256);
        let mut json = Vec::new();
        match self.format {
            TokenFormat::Compact => compact::put_exposure(&mut payload, exposure),
            // Serializing plain data to JSON cannot fail.
            TokenFormat::Json => json = serde_json::to_vec(exposure).unwrap_or_default(),
        }
        Signer {
            ring: self,
            shared: payload.len(),
            payload,
            exposure: json,
        }
    }

    /// How the ring writes new tokens.
    pub fn format(&self) -> TokenFormat {
        self.format
    }

    /// The ring writing new tokens in `format` (every ring reads both).
    pub fn with_format(mut self, format: TokenFormat) -> Self {
        self.format = format;
        self
    }

    /// Verifies a token and returns its claims if it is authentic, of kind `kind`, and
    /// younger than `max_age_ms` at `now_ms` (allowing `skew_ms` of clock difference).
    pub fn verify(
        &self,
        token: &str,
        kind: TokenKind,
        now_ms: i64,
        max_age_ms: i64,
        skew_ms: i64,
    ) -> Result<Claims, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(kid), Some(payload), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let keyed = self
            .keys
            .iter()
            .find(|(k, _)| k == kid)
            .map(|(_, m)| m)
            .ok_or(TokenError::UnknownKey)?;
        let sig = B64.decode(sig).map_err(|_| TokenError::Malformed)?;
        Self::mac(keyed, &token[..kid.len() + 1 + payload.len()])
            .verify_slice(&sig)
            .map_err(|_| TokenError::BadSignature)?;
        let bytes = B64.decode(payload).map_err(|_| TokenError::Malformed)?;
        // Compact payloads since issue 12; JSON ones (`{...}`) were signed before and stay
        // valid for their lifetime.
        let claims: Claims = match bytes.first() {
            Some(&compact::VERSION) => compact::read(&bytes).ok_or(TokenError::Malformed)?,
            _ => serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)?,
        };
        if claims.kind != kind {
            return Err(TokenError::WrongKind);
        }
        let issued = claims.exposure.decided_at_ms;
        if issued > now_ms + skew_ms {
            return Err(TokenError::NotYetValid);
        }
        if now_ms - issued > max_age_ms {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

mod anomaly;
mod compact;
mod ivt;
pub use anomaly::{ip_prefix, ClickRateConfig, ClickRates, Scope};
pub use ivt::{Clicker, Invalid, TrafficFilter, TrafficFilterError};

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HOUR: i64 = 3_600_000;

    fn claims() -> Claims {
        use endcap_core::*;
        let exposure = Exposure {
            decision_id: DecisionId::generate(),
            decided_at_ms: 1_000 * HOUR,
            user_key: "a".repeat(64),
            advertiser_id: AdvertiserId::generate(),
            campaign_id: CampaignId::generate(),
            line_item_id: LineItemId::generate(),
            creative_id: CreativeId::generate(),
            channel: AdChannel::Onsite,
            placement: "search-top".into(),
            position: 0,
            sku: Some("sku-1".into()),
            pricing: PricingModel::Cpm,
            price_micros: 2_000_000,
            bid_cpm_micros: 0,
        };
        Claims::new(TokenKind::Click, &exposure, "https://shop.example/p/1")
    }

    fn ring(spec: &str) -> KeyRing {
        KeyRing::parse(spec).unwrap()
    }

    /// A token as tokens were signed before the compact payload: the claims' JSON.
    fn json_token(r: &KeyRing, c: &Claims) -> String {
        let (kid, keyed) = &r.keys[0];
        let signed = format!("{kid}.{}", B64.encode(serde_json::to_vec(c).unwrap()));
        let sig = KeyRing::mac(keyed, &signed).finalize().into_bytes();
        format!("{signed}.{}", B64.encode(sig))
    }

    /// Every kind of claims one exposure's tokens carry.
    fn every_kind(base: &Claims) -> Vec<Claims> {
        let mut click = base.clone();
        click.click_url = "https://shop.example/p/1?q=\"milk\"&x=é".into();
        let mut off = Claims::new(TokenKind::Bill, &base.exposure, "").offsite("x\\y", "EUR", true);
        off.event = String::new();
        vec![
            Claims::new(TokenKind::Impression, &base.exposure, "ignored"),
            click,
            off,
            Claims::new(TokenKind::Loss, &base.exposure, "").offsite("ex", "", false),
            Claims::custom_event(&base.exposure, "add_to_cart"),
        ]
    }

    /// Each kind's claims with its token, signed by one signer after a prefix (the token is
    /// appended to what the URL holds already), checked to verify.
    fn signed_by_one_signer(r: &KeyRing) -> Vec<(Claims, String)> {
        let base = claims();
        let mut signer = r.signer(&base.exposure);
        every_kind(&base)
            .into_iter()
            .map(|c| {
                let mut t = String::from("prefix=");
                signer.sign_into(&c.head(), &mut t);
                let token = t["prefix=".len()..].to_string();
                let now = c.exposure.decided_at_ms + 1;
                assert_eq!(r.verify(&token, c.kind, now, HOUR, 60_000), Ok(c.clone()));
                (c, token)
            })
            .collect()
    }

    #[test]
    fn tokens_signed_from_the_shared_exposure_verify_to_their_claims() {
        let r = ring("k1:0123456789abcdef0123");
        for (c, token) in signed_by_one_signer(&r) {
            assert_eq!(token, r.sign(&c), "the same bytes however signed");
            let payload = B64.decode(token.split('.').nth(1).unwrap()).unwrap();
            assert!(
                payload.len() * 2 < serde_json::to_vec(&c).unwrap().len(),
                "compact: {} bytes",
                payload.len()
            );
        }
    }

    #[test]
    fn a_json_ring_signs_the_claims_json_of_old() {
        let r = ring("k1:0123456789abcdef0123").with_format(TokenFormat::Json);
        for (c, token) in signed_by_one_signer(&r) {
            assert_eq!(token, json_token(&r, &c), "{:?}", c.kind);
        }
        assert_eq!(TokenFormat::parse("json"), Some(TokenFormat::Json));
        assert_eq!(TokenFormat::parse("compact"), Some(TokenFormat::Compact));
        assert_eq!(TokenFormat::parse("JSON"), None);
    }

    #[test]
    fn json_tokens_signed_before_the_compact_payload_still_verify() {
        let r = ring("k1:0123456789abcdef0123");
        let base = claims();
        for c in every_kind(&base) {
            let token = json_token(&r, &c);
            let now = c.exposure.decided_at_ms + 1;
            assert_eq!(r.verify(&token, c.kind, now, HOUR, 60_000), Ok(c.clone()));
            let mut forged = c.clone();
            forged.exposure.price_micros += 1;
            let (kid, _) = token.split_once('.').unwrap();
            let sig = token.rsplit('.').next().unwrap();
            let tampered = format!(
                "{kid}.{}.{sig}",
                B64.encode(serde_json::to_vec(&forged).unwrap())
            );
            assert_eq!(
                r.verify(&tampered, c.kind, now, HOUR, 60_000),
                Err(TokenError::BadSignature)
            );
        }
    }

    #[test]
    fn a_user_key_that_is_not_a_hash_and_no_sku_round_trip() {
        let r = ring("k1:0123456789abcdef0123");
        for key in ["", "A".repeat(64).as_str(), "ab", &"é".repeat(100)] {
            let mut c = claims();
            c.exposure.user_key = key.to_string();
            c.exposure.sku = None;
            c.exposure.channel = endcap_core::AdChannel::Offsite;
            c.exposure.pricing = endcap_core::PricingModel::Cpc;
            c.exposure.position = u16::MAX;
            c.exposure.price_micros = i64::MIN;
            c.exposure.bid_cpm_micros = i64::MAX;
            c.exposure.decided_at_ms = -5;
            let t = r.sign(&c);
            assert_eq!(r.verify(&t, c.kind, 0, HOUR, 60_000), Ok(c));
        }
    }

    #[test]
    fn a_signed_token_verifies_to_its_claims() {
        let r = ring("k1:0123456789abcdef0123");
        let c = claims();
        let t = r.sign(&c);
        assert_eq!(
            r.verify(
                &t,
                TokenKind::Click,
                c.exposure.decided_at_ms + 1,
                HOUR,
                60_000
            ),
            Ok(c)
        );
    }

    #[test]
    fn rotated_keys_still_verify_old_tokens() {
        let old = ring("k1:0123456789abcdef0123");
        let rotated = ring("k2:fedcba9876543210fedc,k1:0123456789abcdef0123");
        let c = claims();
        assert!(rotated
            .verify(
                &old.sign(&c),
                TokenKind::Click,
                c.exposure.decided_at_ms,
                HOUR,
                0
            )
            .is_ok());
        assert!(rotated.sign(&c).starts_with("k2."));
        assert_eq!(
            old.verify(
                &rotated.sign(&c),
                TokenKind::Click,
                c.exposure.decided_at_ms,
                HOUR,
                0
            ),
            Err(TokenError::UnknownKey)
        );
    }

    #[test]
    fn expired_and_future_tokens_are_refused() {
        let r = ring("k1:0123456789abcdef0123");
        let c = claims();
        let t = r.sign(&c);
        assert_eq!(
            r.verify(
                &t,
                TokenKind::Click,
                c.exposure.decided_at_ms + HOUR + 1,
                HOUR,
                0
            ),
            Err(TokenError::Expired)
        );
        assert_eq!(
            r.verify(
                &t,
                TokenKind::Click,
                c.exposure.decided_at_ms - 120_000,
                HOUR,
                60_000
            ),
            Err(TokenError::NotYetValid)
        );
    }

    #[test]
    fn a_token_signed_with_another_secret_is_forged() {
        let mine = ring("k1:0123456789abcdef0123");
        let attacker = ring("k1:attacker-secret-000000");
        let c = claims();
        assert_eq!(
            mine.verify(
                &attacker.sign(&c),
                TokenKind::Click,
                c.exposure.decided_at_ms,
                HOUR,
                0
            ),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn a_token_is_accepted_only_by_its_own_endpoint() {
        let r = ring("k1:0123456789abcdef0123");
        let c = claims();
        let t = r.sign(&c);
        let at = c.exposure.decided_at_ms;
        assert_eq!(
            r.verify(&t, TokenKind::Impression, at, HOUR, 0),
            Err(TokenError::WrongKind)
        );
        let imp = Claims::new(TokenKind::Impression, &c.exposure, "https://x.example");
        assert_eq!(
            imp.click_url, "",
            "only click tokens carry the landing page"
        );
        assert!(r
            .verify(&r.sign(&imp), TokenKind::Impression, at, HOUR, 0)
            .is_ok());
    }

    #[test]
    fn a_custom_event_token_carries_its_name_and_only_its_endpoint_takes_it() {
        let r = ring("k1:0123456789abcdef0123");
        let c = claims();
        let at = c.exposure.decided_at_ms;
        let t = r.sign(&Claims::custom_event(&c.exposure, "add_to_cart"));
        let got = r.verify(&t, TokenKind::Event, at, HOUR, 0).unwrap();
        assert_eq!(
            (got.kind, got.event.as_str()),
            (TokenKind::Event, "add_to_cart")
        );
        assert_eq!(
            r.verify(&t, TokenKind::Click, at, HOUR, 0),
            Err(TokenError::WrongKind)
        );
        assert_eq!(
            r.verify(&r.sign(&c), TokenKind::Event, at, HOUR, 0),
            Err(TokenError::WrongKind),
            "a click token is no event token"
        );
    }

    #[test]
    fn event_names_are_short_snake_case_and_not_the_built_in_ones() {
        for ok in ["add_to_cart", "view_through", "video_50"] {
            assert!(valid_event_name(ok), "{ok}");
        }
        for bad in [
            "",
            "Add",
            "add-to-cart",
            "impression",
            "click",
            &"a".repeat(33),
        ] {
            assert!(!valid_event_name(bad), "{bad}");
        }
    }

    #[test]
    fn tokens_carry_no_features() {
        let json = serde_json::to_string(&claims()).unwrap();
        assert!(!json.contains("feature"), "{json}");
    }

    #[test]
    fn bad_key_specs_are_named() {
        assert!(KeyRing::parse("k1").is_err());
        assert!(KeyRing::parse("k1:short").is_err());
        assert!(KeyRing::parse("bad kid:0123456789abcdef0123").is_err());
        assert!(KeyRing::parse("k1:0123456789abcdef0123,k1:0123456789abcdef0123").is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(
            std::env::var("ENDCAP_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
        ))]

        #[test]
        fn arbitrary_tokens_are_refused_without_panic(t in "\\PC{0,300}") {
            let r = ring("k1:0123456789abcdef0123");
            prop_assert!(r.verify(&t, TokenKind::Click, 0, HOUR, 0).is_err());
        }

        #[test]
        fn any_single_character_change_is_refused(pos in 0usize..400, ch in "[A-Za-z0-9_.-]") {
            let r = ring("k1:0123456789abcdef0123");
            let c = claims();
            let t = r.sign(&c);
            let pos = pos % t.len();
            let mut bytes = t.clone().into_bytes();
            let new = ch.as_bytes()[0];
            // The same character is no change (counted as a pass rather than a rejection, so
            // long runs do not hit proptest's rejection limit).
            if bytes[pos] == new {
                return Ok(());
            }
            bytes[pos] = new;
            let tampered = String::from_utf8(bytes).unwrap();
            // Changing the last base64 char may only alter padding bits; the decoded
            // signature then still matches, which is fine: the claims are unchanged.
            if let Ok(got) = r.verify(&tampered, TokenKind::Click, c.exposure.decided_at_ms, HOUR, 0) {
                prop_assert_eq!(got, c);
            }
        }
    }
}
