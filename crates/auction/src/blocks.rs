//! What a publisher blocks and which deals it offers (OpenRTB `badv`, `bcat`, `bapp`,
//! `battr`, `pmp`), applied before the auction so a blocked winner passes its slot to the
//! next ad.

use crate::{Candidate, Context};
use endcap_core::rtb_fields::category_under;
use endcap_core::Creative;

/// Blocks that hold for every slot of a request, normalized.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestBlocks {
    /// Blocked IAB Content Taxonomy 1.0 categories (`bcat`), upper-case: a creative in one
    /// of them, or under one (`IAB8` blocks `IAB8-5`), is not shown.
    pub categories: Vec<String>,
    /// Blocked app bundles (`bapp`): a creative promoting one is not shown (compared
    /// case-insensitively).
    pub apps: Vec<String>,
}

/// A deal an impression offers our seat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DealOffer {
    /// The exchange's deal id (echoed as the bid's `dealid`).
    pub id: String,
    /// Its floor in marketplace micros per mille (already converted, and at least our own
    /// reserve): a bid on the deal is never below it.
    pub floor_ecpm_micros: i64,
    /// The deal's auction type (`1` first price, `2` second price, `3` fixed price at the
    /// floor); `None`: the request's.
    pub at: Option<u32>,
}

/// OpenRTB terms of one slot (all empty onsite).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlotTerms {
    /// Blocked creative attributes (`banner.battr`, `native.battr`).
    pub blocked_attributes: Vec<u8>,
    /// Deals offered to our seat.
    pub deals: Vec<DealOffer>,
    /// `pmp.private_auction` = 1: only deal bids.
    pub private_auction: bool,
}

/// Whether `domain` is one of `blocked` or a subdomain of one (a blocked `brand.com` blocks
/// `shop.brand.com`, not `notbrand.com`).
pub fn domain_blocked(domain: &str, blocked: &[String]) -> bool {
    !domain.is_empty()
        && blocked.iter().any(|b| {
            domain == b
                || domain
                    .strip_suffix(b.as_str())
                    .is_some_and(|rest| rest.ends_with('.'))
        })
}

impl Candidate {
    /// The deal this line item bids through in a slot: among the slot's deals that it
    /// targets, the one with the lowest floor (the most room under its value); `None` when
    /// it targets none of them (or targets no deals at all).
    pub fn deal<'t>(&self, terms: &'t SlotTerms) -> Option<&'t DealOffer> {
        let wanted = &self.line_item.targeting.deals;
        if wanted.is_empty() {
            return None;
        }
        terms
            .deals
            .iter()
            .filter(|d| wanted.contains(&d.id))
            .min_by_key(|d| d.floor_ecpm_micros)
    }

    /// The advertiser domains a bid of this creative names (`adomain`): the advertiser's
    /// declared domains, or, when it declared none, the landing page's host.
    pub fn adomain(&self, creative: &Creative) -> Vec<String> {
        if self.advertiser_domains.is_empty() {
            vec![creative.click_domain()]
        } else {
            self.advertiser_domains.to_vec()
        }
    }
}

impl Context {
    /// Why a line item may not bid in a slot at all, before its creatives are looked at:
    /// `badv` names one of its advertiser's declared domains (or a parent of one); it
    /// targets deals and the slot offers none of them; or the slot is a private auction and
    /// it targets no deals.
    pub fn line_item_block(&self, terms: &SlotTerms, cand: &Candidate) -> Option<&'static str> {
        if !self.blocked_domains.is_empty()
            && cand
                .advertiser_domains
                .iter()
                .any(|d| domain_blocked(d, &self.blocked_domains))
        {
            return Some("badv");
        }
        if cand.line_item.targeting.deals.is_empty() {
            return terms.private_auction.then_some("private_auction");
        }
        cand.deal(terms).is_none().then_some("deal")
    }

    /// Whether the page may show this creative of `cand` in a slot: not blocked by id; not
    /// on a blocked landing-page domain when its advertiser declared no domains (declared
    /// ones are checked per line item, [`Context::line_item_block`]); in no blocked IAB
    /// category nor under one; not promoting a blocked app; with no blocked attribute.
    pub fn shows(&self, terms: &SlotTerms, cand: &Candidate, creative: &Creative) -> bool {
        if self.blocked_creatives.contains(&creative.id) {
            return false;
        }
        if cand.advertiser_domains.is_empty()
            && !self.blocked_domains.is_empty()
            && domain_blocked(&creative.click_domain(), &self.blocked_domains)
        {
            return false;
        }
        let b = &self.blocks;
        if !b.categories.is_empty()
            && creative
                .iab_categories
                .iter()
                .any(|c| b.categories.iter().any(|x| category_under(c, x)))
        {
            return false;
        }
        if creative
            .app_bundle
            .as_deref()
            .is_some_and(|app| b.apps.iter().any(|x| x.eq_ignore_ascii_case(app)))
        {
            return false;
        }
        !creative
            .attributes
            .iter()
            .any(|a| terms.blocked_attributes.contains(a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_block_themselves_and_their_subdomains_only() {
        let blocked = vec!["brand.com".to_string()];
        assert!(domain_blocked("brand.com", &blocked));
        assert!(domain_blocked("shop.brand.com", &blocked));
        assert!(!domain_blocked("notbrand.com", &blocked));
        assert!(!domain_blocked("brand.com.evil", &blocked));
        assert!(!domain_blocked("", &blocked));
    }
}
