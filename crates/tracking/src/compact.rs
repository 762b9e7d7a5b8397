//! The compact token payload: the claims as binary fields instead of JSON.
//!
//! A placed ad carries four tokens (impression, click and the custom events), each holding
//! the whole exposure: as JSON that is ~400 bytes, ~540 in base64, and signing, writing and
//! sending those bytes was a fifth of a decision's CPU (BENCHMARKS.md, issue 12). Binary ids
//! and integers take ~170 bytes. Layout, integers little-endian, strings as a LEB128 length
//! and UTF-8 bytes:
//!
//! ```text
//! version (2) | exposure flags | decision id (16) | decided at ms (i64) | advertiser,
//! campaign, line item, creative ids (16 each) | position (u16) | price micros (i64) |
//! bid CPM micros (i64) | user key (32 bytes when SHA-256 hex, else a string) | placement |
//! [sku] | kind | test (0/1) | click url | exchange | currency | event name
//! ```
//!
//! The exposure part is the same for every token of an ad and is written once. A JSON
//! payload starts with `{`, so tokens signed before this format still verify.

use crate::{Claims, TokenKind};
use endcap_core::{
    AdChannel, AdvertiserId, CampaignId, CreativeId, DecisionId, Exposure, LineItemId, PricingModel,
};
use uuid::Uuid;

/// First byte of a compact payload.
pub(crate) const VERSION: u8 = 2;

const OFFSITE: u8 = 1;
const CPM: u8 = 2;
const PACKED_USER: u8 = 4;
const HAS_SKU: u8 = 8;

/// Writes a string: its length as LEB128, then its bytes.
fn put_str(out: &mut Vec<u8>, s: &str) {
    let mut n = s.len();
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out.extend_from_slice(s.as_bytes());
}

/// Whether a user key is 64 lower-case hex digits (a SHA-256 hash), kept as 32 bytes.
fn packable(key: &str) -> bool {
    key.len() == 64
        && key
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn hex_value(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        _ => b - b'a' + 10,
    }
}

/// Appends the version byte and the exposure part shared by an ad's tokens.
pub(crate) fn put_exposure(out: &mut Vec<u8>, x: &Exposure) {
    // Every field named, and every enum matched in full: a field or a variant added later
    // does not compile until it is written here (and read back in `read`).
    let Exposure {
        decision_id,
        decided_at_ms,
        user_key,
        advertiser_id,
        campaign_id,
        line_item_id,
        creative_id,
        channel,
        placement,
        position,
        sku,
        pricing,
        price_micros,
        bid_cpm_micros,
    } = x;
    let packed = packable(user_key);
    let mut flags = match channel {
        AdChannel::Onsite => 0,
        AdChannel::Offsite => OFFSITE,
    };
    flags |= match pricing {
        PricingModel::Cpc => 0,
        PricingModel::Cpm => CPM,
    };
    if packed {
        flags |= PACKED_USER;
    }
    if sku.is_some() {
        flags |= HAS_SKU;
    }
    out.push(VERSION);
    out.push(flags);
    out.extend_from_slice(decision_id.as_uuid().as_bytes());
    out.extend_from_slice(&decided_at_ms.to_le_bytes());
    for id in [
        advertiser_id.as_uuid(),
        campaign_id.as_uuid(),
        line_item_id.as_uuid(),
        creative_id.as_uuid(),
    ] {
        out.extend_from_slice(id.as_bytes());
    }
    out.extend_from_slice(&position.to_le_bytes());
    out.extend_from_slice(&price_micros.to_le_bytes());
    out.extend_from_slice(&bid_cpm_micros.to_le_bytes());
    if packed {
        for pair in user_key.as_bytes().chunks_exact(2) {
            out.push(hex_value(pair[0]) << 4 | hex_value(pair[1]));
        }
    } else {
        put_str(out, user_key);
    }
    put_str(out, placement);
    if let Some(sku) = sku {
        put_str(out, sku);
    }
}

/// Appends the fields of one token after its exposure part.
pub(crate) fn put_head(out: &mut Vec<u8>, head: &crate::ClaimsHead<'_>) {
    let crate::ClaimsHead {
        kind,
        click_url,
        exchange,
        currency,
        test,
        event,
    } = head;
    out.push(match kind {
        TokenKind::Impression => 0,
        TokenKind::Click => 1,
        TokenKind::Bill => 2,
        TokenKind::Loss => 3,
        TokenKind::Event => 4,
    });
    out.push(u8::from(*test));
    for s in [click_url, exchange, currency, event] {
        put_str(out, s);
    }
}

/// Reads a payload back; `None` when it is not exactly one well-formed compact payload.
pub(crate) fn read(bytes: &[u8]) -> Option<Claims> {
    let mut r = Reader(bytes);
    if r.byte()? != VERSION {
        return None;
    }
    let flags = r.byte()?;
    if flags & !(OFFSITE | CPM | PACKED_USER | HAS_SKU) != 0 {
        return None;
    }
    let decision_id = DecisionId::from_uuid(r.uuid()?);
    let decided_at_ms = i64::from_le_bytes(r.array()?);
    let advertiser_id = AdvertiserId::from_uuid(r.uuid()?);
    let campaign_id = CampaignId::from_uuid(r.uuid()?);
    let line_item_id = LineItemId::from_uuid(r.uuid()?);
    let creative_id = CreativeId::from_uuid(r.uuid()?);
    let position = u16::from_le_bytes(r.array()?);
    let price_micros = i64::from_le_bytes(r.array()?);
    let bid_cpm_micros = i64::from_le_bytes(r.array()?);
    let user_key = if flags & PACKED_USER != 0 {
        let raw: [u8; 32] = r.array()?;
        const HEX: &[u8; 16] = b"0123456789abcdef";
        raw.iter()
            .flat_map(|b| [HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]])
            .map(char::from)
            .collect()
    } else {
        r.string()?
    };
    let placement = r.string()?;
    let sku = if flags & HAS_SKU != 0 {
        Some(r.string()?)
    } else {
        None
    };
    let kind = match r.byte()? {
        0 => TokenKind::Impression,
        1 => TokenKind::Click,
        2 => TokenKind::Bill,
        3 => TokenKind::Loss,
        4 => TokenKind::Event,
        _ => return None,
    };
    let test = match r.byte()? {
        0 => false,
        1 => true,
        _ => return None,
    };
    let (click_url, exchange, currency, event) =
        (r.string()?, r.string()?, r.string()?, r.string()?);
    if !r.0.is_empty() {
        return None;
    }
    Some(Claims {
        kind,
        click_url,
        exchange,
        currency,
        test,
        exposure: Exposure {
            decision_id,
            decided_at_ms,
            user_key,
            advertiser_id,
            campaign_id,
            line_item_id,
            creative_id,
            channel: if flags & OFFSITE != 0 {
                AdChannel::Offsite
            } else {
                AdChannel::Onsite
            },
            placement,
            position,
            sku,
            pricing: if flags & CPM != 0 {
                PricingModel::Cpm
            } else {
                PricingModel::Cpc
            },
            price_micros,
            bid_cpm_micros,
        },
        event,
    })
}

/// The unread rest of a payload; every read is bounds-checked.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn byte(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn uuid(&mut self) -> Option<Uuid> {
        self.array().map(Uuid::from_bytes)
    }

    fn string(&mut self) -> Option<String> {
        let mut n: usize = 0;
        for shift in (0..).step_by(7).take(4) {
            let b = self.byte()?;
            n |= usize::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                let s = self.take(n)?;
                return String::from_utf8(s.to_vec()).ok();
            }
        }
        // Longer than 4 length bytes (2^28): no token is that long.
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn payload(c: &Claims) -> Vec<u8> {
        let mut p = Vec::new();
        put_exposure(&mut p, &c.exposure);
        put_head(&mut p, &c.head());
        p
    }

    fn claims(user_key: String, strings: [String; 5], numbers: (i64, i64, i64, u16)) -> Claims {
        let [placement, sku, click_url, exchange, event] = strings;
        Claims {
            kind: TokenKind::Click,
            click_url,
            exchange,
            currency: "EUR".into(),
            test: numbers.3.is_multiple_of(2),
            exposure: Exposure {
                decision_id: DecisionId::generate(),
                decided_at_ms: numbers.0,
                user_key,
                advertiser_id: AdvertiserId::generate(),
                campaign_id: CampaignId::generate(),
                line_item_id: LineItemId::generate(),
                creative_id: CreativeId::generate(),
                channel: AdChannel::Offsite,
                placement,
                position: numbers.3,
                sku: (!sku.is_empty()).then_some(sku),
                pricing: PricingModel::Cpm,
                price_micros: numbers.1,
                bid_cpm_micros: numbers.2,
            },
            event,
        }
    }

    proptest! {
        #[test]
        fn any_claims_round_trip(
            user_key in prop_oneof!["[0-9a-f]{64}", "\\PC{0,80}"],
            strings in proptest::array::uniform5("\\PC{0,300}"),
            numbers in (any::<i64>(), any::<i64>(), any::<i64>(), any::<u16>()),
        ) {
            let c = claims(user_key, strings, numbers);
            prop_assert_eq!(read(&payload(&c)), Some(c));
        }

        #[test]
        fn any_bytes_are_read_without_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = read(&bytes);
            if let Some(b) = bytes.first_mut() {
                *b = VERSION;
            }
            let _ = read(&bytes);
        }
    }

    #[test]
    fn a_cut_or_lengthened_payload_is_refused() {
        let c = claims(
            "ab".repeat(32),
            ["search-top", "sku-1", "https://x.example/", "", ""].map(String::from),
            (1, 2, 3, 4),
        );
        let p = payload(&c);
        assert_eq!(read(&p), Some(c));
        for n in 0..p.len() {
            assert_eq!(read(&p[..n]), None, "cut at {n}");
        }
        let mut longer = p.clone();
        longer.push(0);
        assert_eq!(read(&longer), None);
        let mut bad_kind = p;
        // From the end: event (1), currency (1 + 3), exchange (1), click url (1 + 18), test.
        let at = bad_kind.len() - 1 - 4 - 1 - (1 + "https://x.example/".len()) - 1 - 1;
        assert_eq!(bad_kind[at], 1, "the click kind");
        bad_kind[at] = 9;
        assert_eq!(read(&bad_kind), None, "an unknown kind");
    }
}
