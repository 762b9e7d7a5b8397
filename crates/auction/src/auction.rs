//! The auction for one placement: rank by eCPM, fill the slots, price each winner.

use endcap_core::{AdvertiserId, LineItemId, PricingModel};

/// A scored candidate entering the auction.
#[derive(Debug, Clone, PartialEq)]
pub struct Bidder {
    /// Position in the caller's candidate list.
    pub idx: usize,
    /// Line item.
    pub line_item: LineItemId,
    /// Random per request: breaks eCPM ties, so no line item always wins them.
    pub tiebreak: u64,
    /// Owner (one ad per advertiser unless allowed).
    pub advertiser: AdvertiserId,
    /// How it pays.
    pub pricing: PricingModel,
    /// Its maximum bid in micros (per click or per mille).
    pub bid_micros: i64,
    /// Predicted CTR.
    pub pctr: f64,
    /// Expected value per thousand impressions, micros: bid x pCTR x 1000 (CPC) or bid (CPM).
    pub ecpm_micros: i64,
    /// Its own reserve, replacing the slot's (a deal's floor), eCPM micros; `None`: the slot's.
    pub floor_ecpm_micros: Option<i64>,
}

impl Bidder {
    /// Computes the eCPM from bid and pCTR.
    pub fn ecpm(pricing: PricingModel, bid_micros: i64, pctr: f64) -> i64 {
        match pricing {
            PricingModel::Cpm => bid_micros,
            PricingModel::Cpc => (bid_micros as f64 * pctr * 1000.0).round() as i64,
        }
    }
}

/// Auction settings for a placement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuctionRules {
    /// Slots to fill.
    pub slots: usize,
    /// Reserve price as eCPM micros; below it nobody serves.
    pub floor_ecpm_micros: i64,
    /// First price instead of second price (GSP).
    pub first_price: bool,
    /// Allow several ads of one advertiser in this placement.
    pub allow_same_advertiser: bool,
    /// Least a CPC winner pays per click, micros; CPC bids under it do not enter.
    pub min_cpc_micros: i64,
}

/// A winner and what it pays, in its own unit (per click or per mille), micros.
#[derive(Debug, Clone, PartialEq)]
pub struct Win {
    /// The bidder.
    pub bidder: Bidder,
    /// Slot position, 0 first.
    pub rank: usize,
    /// Price in micros per click (CPC) or per thousand impressions (CPM).
    pub price_micros: i64,
}

/// Why a bidder did not win.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    /// Its eCPM is under the reserve.
    Floor,
    /// Others ranked higher and the slots ran out.
    Outbid,
    /// Its advertiser already has an ad in this placement.
    SameAdvertiser,
}

/// Runs the auction: rank by eCPM (ties: the random tie-break), skip repeat advertisers unless
/// allowed, fill the slots, and price each winner at the minimum that keeps its rank (the
/// next eCPM, or the reserve) — or at its own bid under first price — never above its bid.
pub fn run_auction(
    mut bidders: Vec<Bidder>,
    rules: AuctionRules,
) -> (Vec<Win>, Vec<(Bidder, Loss)>) {
    bidders.sort_by(|a, b| {
        b.ecpm_micros
            .cmp(&a.ecpm_micros)
            .then(a.tiebreak.cmp(&b.tiebreak))
    });
    let mut losses = Vec::new();
    let mut ranked: Vec<Bidder> = Vec::new();
    let mut advertisers: Vec<AdvertiserId> = Vec::new();
    for b in bidders {
        let under_min_cpc = b.pricing == PricingModel::Cpc && b.bid_micros < rules.min_cpc_micros;
        let floor = b.floor_ecpm_micros.unwrap_or(rules.floor_ecpm_micros);
        if b.ecpm_micros < floor || b.ecpm_micros <= 0 || under_min_cpc {
            losses.push((b, Loss::Floor));
        } else if !rules.allow_same_advertiser && advertisers.contains(&b.advertiser) {
            losses.push((b, Loss::SameAdvertiser));
        } else {
            advertisers.push(b.advertiser);
            ranked.push(b);
        }
    }
    let mut wins = Vec::new();
    for (rank, b) in ranked.iter().enumerate() {
        if rank >= rules.slots {
            losses.push((b.clone(), Loss::Outbid));
            continue;
        }
        // A bidder with a reserve of its own (a deal) never clears below it.
        let floor = b.floor_ecpm_micros.unwrap_or(rules.floor_ecpm_micros);
        let clearing_ecpm = if rules.first_price {
            b.ecpm_micros
        } else {
            ranked
                .get(rank + 1)
                .map_or(floor, |next| next.ecpm_micros)
                .max(floor)
        };
        let price = match b.pricing {
            PricingModel::Cpm => clearing_ecpm,
            // Per click: the eCPM divided back by the expected clicks per mille, rounded up
            // so the winner never pays less than what keeps its rank.
            PricingModel::Cpc => {
                ((clearing_ecpm as f64 / (b.pctr * 1000.0)).ceil() as i64).max(rules.min_cpc_micros)
            }
        };
        wins.push(Win {
            bidder: b.clone(),
            rank,
            price_micros: price.min(b.bid_micros).max(1),
        });
    }
    (wins, losses)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bidder(i: u128, adv: u128, pricing: PricingModel, bid: i64, pctr: f64) -> Bidder {
        Bidder {
            idx: i as usize,
            line_item: LineItemId::parse(&uuid::Uuid::from_u128(i).to_string()).unwrap(),
            tiebreak: fastrand::u64(..),
            advertiser: AdvertiserId::parse(&uuid::Uuid::from_u128(1000 + adv).to_string())
                .unwrap(),
            pricing,
            bid_micros: bid,
            pctr,
            ecpm_micros: Bidder::ecpm(pricing, bid, pctr),
            floor_ecpm_micros: None,
        }
    }

    fn rules(slots: usize, floor: i64) -> AuctionRules {
        AuctionRules {
            slots,
            floor_ecpm_micros: floor,
            first_price: false,
            allow_same_advertiser: false,
            min_cpc_micros: 0,
        }
    }

    #[test]
    fn a_cpc_winner_pays_what_keeps_its_rank() {
        // eCPMs: A 2.00 * 0.02 * 1000 = 40,000,000; B 1.00 * 0.03 * 1000 = 30,000,000.
        let a = bidder(1, 1, PricingModel::Cpc, 2_000_000, 0.02);
        let b = bidder(2, 2, PricingModel::Cpc, 1_000_000, 0.03);
        let (wins, losses) = run_auction(vec![b.clone(), a.clone()], rules(1, 0));
        assert_eq!(wins[0].bidder.line_item, a.line_item);
        // Keeping rank needs eCPM 30,000,000: 30,000,000 / (0.02 * 1000) = 1,500,000 per click.
        assert_eq!(wins[0].price_micros, 1_500_000);
        assert_eq!(losses, vec![(b, Loss::Outbid)]);
    }

    #[test]
    fn the_last_winner_pays_the_reserve_and_bids_under_it_lose() {
        let a = bidder(1, 1, PricingModel::Cpm, 5_000_000, 0.0);
        let low = bidder(2, 2, PricingModel::Cpm, 400_000, 0.0);
        let (wins, losses) = run_auction(vec![a, low.clone()], rules(2, 500_000));
        assert_eq!(wins.len(), 1);
        assert_eq!(wins[0].price_micros, 500_000);
        assert_eq!(losses, vec![(low, Loss::Floor)]);
    }

    #[test]
    fn a_deal_floor_replaces_the_slots_and_its_winner_never_clears_under_it() {
        // The slot's floor is 3.00; the deal bidder's own floor is 1.50.
        let mut deal = bidder(1, 1, PricingModel::Cpm, 2_000_000, 0.0);
        deal.floor_ecpm_micros = Some(1_500_000);
        let open = bidder(2, 2, PricingModel::Cpm, 2_500_000, 0.0);
        let (wins, losses) = run_auction(vec![deal.clone(), open], rules(1, 3_000_000));
        assert_eq!(wins.len(), 1);
        assert_eq!(wins[0].bidder.idx, 1);
        assert_eq!(
            wins[0].price_micros, 1_500_000,
            "no runner-up: the deal floor"
        );
        assert_eq!(
            losses[0].1,
            Loss::Floor,
            "the open bid is under the slot floor"
        );
        // A deal floor above the bid: it does not enter.
        deal.floor_ecpm_micros = Some(2_100_000);
        let (wins, _) = run_auction(vec![deal], rules(1, 0));
        assert!(wins.is_empty());
        // Runner-up under the deal floor: the winner pays the deal floor, not the runner-up.
        let mut deal = bidder(1, 1, PricingModel::Cpm, 4_000_000, 0.0);
        deal.floor_ecpm_micros = Some(3_000_000);
        let low = bidder(2, 2, PricingModel::Cpm, 1_000_000, 0.0);
        let (wins, _) = run_auction(vec![deal, low], rules(1, 0));
        assert_eq!(wins[0].price_micros, 3_000_000);
    }

    #[test]
    fn first_price_pays_the_bid() {
        let a = bidder(1, 1, PricingModel::Cpm, 5_000_000, 0.0);
        let b = bidder(2, 2, PricingModel::Cpm, 3_000_000, 0.0);
        let (wins, _) = run_auction(
            vec![a, b],
            AuctionRules {
                first_price: true,
                ..rules(1, 0)
            },
        );
        assert_eq!(wins[0].price_micros, 5_000_000);
    }

    #[test]
    fn one_ad_per_advertiser_unless_allowed() {
        let a1 = bidder(1, 1, PricingModel::Cpm, 5_000_000, 0.0);
        let a2 = bidder(2, 1, PricingModel::Cpm, 4_000_000, 0.0);
        let b = bidder(3, 2, PricingModel::Cpm, 1_000_000, 0.0);
        let (wins, losses) = run_auction(vec![a1.clone(), a2.clone(), b.clone()], rules(2, 0));
        assert_eq!(
            wins.iter().map(|w| w.bidder.idx).collect::<Vec<_>>(),
            vec![1, 3]
        );
        assert_eq!(losses, vec![(a2.clone(), Loss::SameAdvertiser)]);
        let (wins, _) = run_auction(
            vec![a1, a2, b],
            AuctionRules {
                allow_same_advertiser: true,
                ..rules(2, 0)
            },
        );
        assert_eq!(
            wins.iter().map(|w| w.bidder.idx).collect::<Vec<_>>(),
            vec![1, 2]
        );
    }

    #[test]
    fn ties_break_at_random_per_request() {
        let mut first = 0;
        for _ in 0..400 {
            let a = bidder(7, 1, PricingModel::Cpm, 1_000_000, 0.0);
            let b = bidder(3, 2, PricingModel::Cpm, 1_000_000, 0.0);
            let (wins, _) = run_auction(vec![a, b], rules(1, 0));
            if wins[0].bidder.idx == 7 {
                first += 1;
            }
        }
        // Each wins about half; both win sometimes (the odds of failing by chance are ~1e-9).
        assert!((130..=270).contains(&first), "{first} of 400");
    }

    #[test]
    fn a_cpc_bid_under_the_minimum_cpc_does_not_enter_and_winners_pay_at_least_it() {
        let low = bidder(1, 1, PricingModel::Cpc, 40_000, 0.5);
        let ok = bidder(2, 2, PricingModel::Cpc, 200_000, 0.01);
        let (wins, losses) = run_auction(
            vec![low.clone(), ok],
            AuctionRules {
                min_cpc_micros: 50_000,
                ..rules(2, 0)
            },
        );
        assert_eq!(losses, vec![(low, Loss::Floor)]);
        assert_eq!(wins.len(), 1);
        assert_eq!(wins[0].price_micros, 50_000);
    }

    proptest! {
        #[test]
        fn nobody_pays_more_than_their_bid_or_less_than_the_reserve_cpm(
            bids in proptest::collection::vec((1i64..10_000_000, 1u32..200, any::<bool>()), 1..12),
            floor in 0i64..2_000_000, slots in 1usize..4,
        ) {
            let bidders: Vec<Bidder> = bids.iter().enumerate().map(|(i, (bid, ctr, cpc))| {
                let pricing = if *cpc { PricingModel::Cpc } else { PricingModel::Cpm };
                bidder(i as u128 + 1, i as u128, pricing, *bid, f64::from(*ctr) / 1000.0)
            }).collect();
            let (wins, losses) = run_auction(bidders.clone(), rules(slots, floor));
            prop_assert!(wins.len() <= slots);
            prop_assert_eq!(wins.len() + losses.len(), bidders.len());
            for w in &wins {
                prop_assert!(w.price_micros <= w.bidder.bid_micros);
                prop_assert!(w.bidder.ecpm_micros >= floor);
                if w.bidder.pricing == PricingModel::Cpm {
                    prop_assert!(w.price_micros >= floor.min(w.bidder.bid_micros));
                }
            }
            for pair in wins.windows(2) {
                prop_assert!(pair[0].bidder.ecpm_micros >= pair[1].bidder.ecpm_micros);
            }
        }
    }
}
