//! `${AUCTION_PRICE}`: what the exchange says we pay, decoded and checked before it is
//! recorded. The macro's value sits outside our token's signature, so it is distrusted.

use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Why a clearing price was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    /// Missing, or the macro was never substituted.
    #[error("the clearing price is missing")]
    Missing,
    /// Not a decimal CPM (clear text) or not a valid ciphertext.
    #[error("the clearing price is malformed")]
    Malformed,
    /// The ciphertext's integrity signature does not match: forged or damaged.
    #[error("the clearing price's signature does not match")]
    BadSignature,
    /// Above what we bid: an exchange may not charge more than the bid.
    #[error("the clearing price {price} is above our bid {bid} (micros per mille)")]
    AboveBid {
        /// The price, micros per mille.
        price: i64,
        /// Our bid, micros per mille.
        bid: i64,
    },
}

/// Turns the `${AUCTION_PRICE}` text an exchange sends into micros per mille.
pub trait PriceDecoder: Send + Sync + std::fmt::Debug {
    /// Decodes `raw` (already URL-decoded).
    fn decode(&self, raw: &str) -> Result<i64, PriceError>;
}

/// Clear text: a decimal CPM in currency units, e.g. `1.25` (digits beyond micros are
/// dropped: the exchange is never overpaid).
#[derive(Debug, Clone, Copy, Default)]
pub struct ClearPrice;

impl PriceDecoder for ClearPrice {
    fn decode(&self, raw: &str) -> Result<i64, PriceError> {
        let raw = raw.trim();
        if raw.is_empty() || raw.contains("AUCTION_PRICE") {
            return Err(PriceError::Missing);
        }
        let (int, frac) = raw.split_once('.').unwrap_or((raw, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty() || !digits(int) || !digits(frac) || int.len() > 12 {
            return Err(PriceError::Malformed);
        }
        let mut micros: i64 = int.parse().map_err(|_| PriceError::Malformed)?;
        micros *= 1_000_000;
        let frac6: String = frac.chars().chain(std::iter::repeat('0')).take(6).collect();
        micros += frac6.parse::<i64>().map_err(|_| PriceError::Malformed)?;
        Ok(micros)
    }
}

/// The widely used HMAC-SHA1 price encryption (as in Google's Authorized Buyers): the
/// websafe-base64 text of `iv (16 bytes) | price XOR HMAC-SHA1(ekey, iv)[..8] |
/// HMAC-SHA1(ikey, price | iv)[..4]`, the price being big-endian micros per mille.
#[derive(Clone)]
pub struct HmacSha1Price {
    ekey: Vec<u8>,
    ikey: Vec<u8>,
}

impl std::fmt::Debug for HmacSha1Price {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacSha1Price(..)")
    }
}

fn mac(key: &[u8], parts: &[&[u8]]) -> [u8; 20] {
    // HMAC takes keys of any length; this cannot fail.
    let mut m = <Hmac<Sha1> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

impl HmacSha1Price {
    /// Keys as the exchange gives them: websafe base64.
    pub fn from_base64(ekey: &str, ikey: &str) -> Option<Self> {
        let dec = |s: &str| {
            URL_SAFE_NO_PAD
                .decode(s.trim_end_matches('='))
                .ok()
                .filter(|k| !k.is_empty())
        };
        Some(Self {
            ekey: dec(ekey)?,
            ikey: dec(ikey)?,
        })
    }

    /// Encrypts a price with `iv` (what an exchange does; used by tests and simulators).
    pub fn encrypt(&self, micros: i64, iv: [u8; 16]) -> String {
        let price = (micros.max(0) as u64).to_be_bytes();
        let pad = mac(&self.ekey, &[&iv]);
        let mut out = Vec::with_capacity(28);
        out.extend_from_slice(&iv);
        out.extend(price.iter().zip(&pad[..8]).map(|(p, k)| p ^ k));
        out.extend_from_slice(&mac(&self.ikey, &[&price, &iv])[..4]);
        URL_SAFE.encode(out)
    }
}

impl PriceDecoder for HmacSha1Price {
    fn decode(&self, raw: &str) -> Result<i64, PriceError> {
        let raw = raw.trim();
        if raw.is_empty() || raw.contains("AUCTION_PRICE") {
            return Err(PriceError::Missing);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(raw.trim_end_matches('='))
            .map_err(|_| PriceError::Malformed)?;
        if bytes.len() != 28 {
            return Err(PriceError::Malformed);
        }
        let (iv, rest) = bytes.split_at(16);
        let (enc, sig) = rest.split_at(8);
        let pad = mac(&self.ekey, &[iv]);
        let price: Vec<u8> = enc.iter().zip(&pad[..8]).map(|(e, k)| e ^ k).collect();
        let check = mac(&self.ikey, &[&price, iv]);
        if check[..4] != *sig {
            return Err(PriceError::BadSignature);
        }
        let mut be = [0u8; 8];
        be.copy_from_slice(&price);
        i64::try_from(u64::from_be_bytes(be)).map_err(|_| PriceError::Malformed)
    }
}

/// Decodes and checks a clearing price: a number, >= 0, <= our bid (micros per mille).
pub fn clearing_price(
    decoder: &dyn PriceDecoder,
    raw: Option<&str>,
    our_bid_micros: i64,
) -> Result<i64, PriceError> {
    let price = decoder.decode(raw.ok_or(PriceError::Missing)?)?;
    if price > our_bid_micros {
        return Err(PriceError::AboveBid {
            price,
            bid: our_bid_micros,
        });
    }
    Ok(price)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clear_prices_are_decimal_cpms_and_nothing_else() {
        let c = ClearPrice;
        assert_eq!(c.decode("1.25"), Ok(1_250_000));
        assert_eq!(
            c.decode("0.0000019"),
            Ok(1),
            "digits past micros are dropped"
        );
        assert_eq!(c.decode("3"), Ok(3_000_000));
        for bad in ["-1", "1e3", "NaN", "1.2.3", ".5", "0x10", " "] {
            assert!(c.decode(bad).is_err(), "{bad}");
        }
        assert_eq!(c.decode("${AUCTION_PRICE}"), Err(PriceError::Missing));
    }

    #[test]
    fn a_price_above_our_bid_or_missing_is_refused() {
        assert_eq!(
            clearing_price(&ClearPrice, Some("2.5"), 2_000_000),
            Err(PriceError::AboveBid {
                price: 2_500_000,
                bid: 2_000_000
            })
        );
        assert_eq!(
            clearing_price(&ClearPrice, None, 1),
            Err(PriceError::Missing)
        );
        assert_eq!(
            clearing_price(&ClearPrice, Some("1.5"), 2_000_000),
            Ok(1_500_000)
        );
    }

    #[test]
    fn encrypted_prices_round_trip_and_tampering_is_caught() {
        // Keys in the websafe base64 exchanges hand out.
        let d = HmacSha1Price::from_base64(
            "skU7Ax_NL5pPAFyKdkfZjZz2-VhIN8bjj1rVFOaJ_5o=",
            "arO23ykdNqUQ5LEoQ0FVmPkBd7xB5CO89PDZlSjpFxo=",
        )
        .unwrap();
        let t = d.encrypt(1_900_000, *b"0123456789abcdef");
        assert_eq!(d.decode(&t), Ok(1_900_000));
        let mut bytes = URL_SAFE.decode(&t).unwrap();
        bytes[18] ^= 1;
        assert_eq!(
            d.decode(&URL_SAFE.encode(bytes)),
            Err(PriceError::BadSignature)
        );
        assert_eq!(d.decode("short"), Err(PriceError::Malformed));
        let other = HmacSha1Price::from_base64("AAAA", "BBBB").unwrap();
        assert_eq!(other.decode(&t), Err(PriceError::BadSignature));
    }
}
