//! `/openrtb2/bid`: bids for offsite publishers, at the advertiser's value.

use crate::{ServeError, Server};
use endcap_auction::{decide, uniform_draw, Context};
use endcap_core::AdChannel;
use endcap_events::Arm;
use endcap_openrtb::{
    bid_for, deal_price_floor, device_class, offsite_slots, placed_bid_cpm_micros, request_blocks,
    response_currency, Bid, BidRequest, BidResponse, BidUrls, Exchange, SeatBid,
    AUCTION_PRICE_MACRO, SEAT,
};
use endcap_tracking::{ClaimsHead, TokenKind};
use std::time::{Duration, Instant};

/// Time kept back from `tmax` to sign the bids and send the answer.
const ANSWER_MARGIN: Duration = Duration::from_millis(2);

/// Below this `tmax` a bid cannot be decided and sent back in time.
const MIN_TMAX: Duration = Duration::from_millis(2);

/// What to answer an exchange.
#[derive(Debug)]
pub enum BidAnswer {
    /// Bids.
    Bid(BidResponse),
    /// No bid (HTTP 204).
    NoBid,
    /// No bid with an OpenRTB reason code (`endcap_openrtb::nbr`).
    Refused {
        /// The request's id.
        id: String,
        /// Why.
        nbr: u8,
    },
}

impl Server {
    /// Bids on an OpenRTB request from `exchange`. Bids carry the advertiser's value (shaded
    /// only in first-price auctions); each placed ad's expected cost is reserved, and an ad
    /// whose reservation fails is not bid (the exchange's bill cannot be clamped later).
    /// Answered only once the events it wrote are queued or, past a full queue, on disk.
    pub async fn bid(
        &self,
        req: BidRequest,
        exchange: &Exchange,
        started: Instant,
    ) -> Result<BidAnswer, ServeError> {
        let out = self.bid_unsettled(req, exchange, started).await;
        self.sink.settled().await;
        out
    }

    /// [`Server::bid`] without waiting for its events to settle.
    async fn bid_unsettled(
        &self,
        req: BidRequest,
        exchange: &Exchange,
        started: Instant,
    ) -> Result<BidAnswer, ServeError> {
        req.validate()?;
        let cfg = &self.config;
        let tmax = Duration::from_millis(req.tmax.unwrap_or(cfg.max_tmax_ms).min(cfg.max_tmax_ms));
        // Too little time to decide and answer: do no work, answer no-bid at once.
        if tmax < MIN_TMAX {
            return Ok(BidAnswer::NoBid);
        }
        let Some(cur) = response_currency(&req, &cfg.rates) else {
            return Ok(BidAnswer::NoBid);
        };
        // `bcat` in a taxonomy we do not speak: we cannot tell what it blocks, so no bid.
        let Some(blocks) = request_blocks(&req) else {
            return Ok(BidAnswer::NoBid);
        };
        let min_floor = cfg.placement_floors.get("offsite").copied().unwrap_or(0);
        let https_urls = cfg.public_url.starts_with("https://");
        let imps = offsite_slots(&req, &cfg.rates, min_floor, https_urls);
        // Video-only and other imp kinds we do not serve get a plain no-bid: the list has no
        // code for them (8 is "unmatched user"). Native imps whose native request is
        // malformed are not bid on; when nothing else is left, the answer says so (code 2).
        for e in &imps.malformed_native {
            tracing::debug!(field = %e.field, message = %e.message, "malformed native request");
        }
        if imps.slots.is_empty() {
            if !imps.malformed_native.is_empty() {
                return Ok(BidAnswer::Refused {
                    id: req.id,
                    nbr: endcap_openrtb::nbr::INVALID_REQUEST,
                });
            }
            return Ok(BidAnswer::NoBid);
        }
        // A device the bot list knows: no bid, saying why (code 3).
        let ua = req.device.as_ref().and_then(|d| d.ua.as_deref());
        if ua.is_some() && cfg.traffic.impression(ua) == Some(endcap_tracking::Invalid::Bot) {
            return Ok(BidAnswer::Refused {
                id: req.id,
                nbr: endcap_openrtb::nbr::KNOWN_WEB_SPIDER,
            });
        }
        // Without consent the request is served contextually: no user key, so no segments,
        // caps, holdout arm or user-level logging.
        // The user key: ours in `buyeruid`, or the exchange's id through the synced pairs
        // (crate::sync; a bounded, cached lookup whose miss is "no user").
        let user_key = match req
            .user
            .as_ref()
            .filter(|_| req.personalization_allowed(&cfg.consent))
        {
            Some(u) => self.offsite_user_key(&exchange.name, u).await,
            None => String::new(),
        };
        let (segments, holdout_key) = self.user_lookup(&user_key).await;
        let now = chrono::Utc::now();
        let ctx = Context {
            user_key,
            holdout_key,
            segments,
            blocked_advertisers: Vec::new(),
            blocked_creatives: Vec::new(),
            blocked_domains: req
                .badv
                .iter()
                .map(|b| Context::blocked_domain(b))
                .collect(),
            keywords: Vec::new(),
            query: String::new(),
            categories: Vec::new(),
            skus_on_page: Vec::new(),
            candidate_skus: Vec::new(),
            store_id: None,
            device: device_class(req.device.as_ref().and_then(|d| d.devicetype)),
            page_type: "".into(),
            channel: AdChannel::Offsite,
            now,
            local: cfg.clock.local(now),
            draw: uniform_draw(),
            blocks,
        };
        let snapshot = self.index.load();
        let first_price = req.at == Some(1);
        let model = self.model.get();
        // Slots not started before the deadline are not decided: the answer would be late.
        let mut deps = self.deps(&snapshot, &model, first_price);
        deps.deadline = Some(started + tmax.saturating_sub(ANSWER_MARGIN));
        let d = decide(&deps, &ctx, &imps.slots);
        let test = req.test == 1;
        if d.timed_out || started.elapsed() >= tmax || test && d.placed.is_empty() {
            for p in &d.placed {
                self.budgets.release(p.decision_id.as_uuid());
            }
            return Ok(BidAnswer::NoBid);
        }
        let request_id = endcap_core::v7_now();
        if !test {
            // Offsite, the treated arm is "we bid"; a ghost is "we would have bid".
            self.log_ghosts(&ctx, request_id, &d.ghosts);
        }
        let marketplace = cfg.rates.marketplace();
        let token_cur = if cur == marketplace { "" } else { cur.as_str() };
        let base = &cfg.public_url;
        let mut bids: Vec<Bid> = Vec::new();
        for p in &d.placed {
            let floor = imps
                .slots
                .iter()
                .find(|s| s.id == p.slot_id)
                .map_or(0, |s| s.floor_ecpm_micros);
            // A deal bid is priced against its deal's floor and auction type.
            let value = placed_bid_cpm_micros(
                p.ecpm_micros,
                floor,
                p.deal.as_ref(),
                first_price,
                cfg.shade_bps,
            );
            // `badv`, `bcat`, `bapp`, `battr` and deals were applied before the auction
            // (Context::line_item_block, Context::shows): a blocked winner passed its slot to
            // the next ad.
            let Some(bid) = value else {
                self.budgets.release(p.decision_id.as_uuid());
                continue;
            };
            let Some(price) = cfg.rates.from_marketplace(bid, &cur) else {
                self.budgets.release(p.decision_id.as_uuid());
                continue;
            };
            // A deal stated in the answer's currency: rounding through the marketplace
            // currency must not take the bid under its floor (then no bid, rather than one
            // the exchange refuses or one above what we may be billed).
            let under_deal = p
                .deal
                .as_ref()
                .and_then(|d| deal_price_floor(&req, &p.slot_id, &d.id, &cur))
                .is_some_and(|least| price < least);
            if under_deal {
                self.budgets.release(p.decision_id.as_uuid());
                continue;
            }
            let mut x = p.exposure(&ctx);
            x.bid_cpm_micros = bid;
            if x.pricing == endcap_core::PricingModel::Cpm {
                // What the advertiser agreed to pay per mille: the cap of its charge, above
                // the (possibly shaded) bid so the take rate survives first-price clearing.
                x.price_micros = p.ecpm_micros;
            }
            let bill_suffix = format!("&price={AUCTION_PRICE_MACRO}");
            let mut signer = self.keys.signer(&x);
            let mut url = |path: &str, kind: TokenKind, suffix: &str| {
                let head = ClaimsHead {
                    click_url: if kind == TokenKind::Click {
                        &p.creative.click_url
                    } else {
                        ""
                    },
                    exchange: &exchange.name,
                    currency: token_cur,
                    test,
                    ..ClaimsHead::of(kind)
                };
                crate::tracking_url(base, path, &mut signer, &head, suffix)
            };
            let urls = BidUrls {
                impression: url("/v1/events/impression", TokenKind::Impression, "&f=gif"),
                click: url("/v1/events/click", TokenKind::Click, ""),
                bill: url("/v1/events/bill", TokenKind::Bill, &bill_suffix),
                loss: url("/v1/events/loss", TokenKind::Loss, ""),
            };
            // A native creative answers its imp's native request. The auction admitted it
            // because it fills every required asset; were the two checks ever to disagree,
            // no bid rather than a broken one.
            let Some(b) = bid_for(p, price, &urls, exchange, imps.native_for(&p.slot_id)) else {
                self.budgets.release(p.decision_id.as_uuid());
                continue;
            };
            if test {
                // Answered, never billed nor counted as delivery.
                self.budgets.release(p.decision_id.as_uuid());
            } else {
                self.log_decision(&ctx, request_id, p, &x, Arm::Served);
            }
            bids.push(b);
        }
        if bids.is_empty() {
            return Ok(BidAnswer::NoBid);
        }
        Ok(BidAnswer::Bid(BidResponse {
            id: req.id,
            seatbid: vec![SeatBid {
                bid: bids,
                seat: SEAT.into(),
            }],
            cur,
        }))
    }
}
