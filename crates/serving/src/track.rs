//! Tracking: impressions, clicks, billing and loss notices. Tokens are verified for their
//! kind and lifetime, sightings de-duplicated across replicas, and every charge clamped to
//! the budget and written to the ledger.

use crate::{ServeError, Server};
use chrono::{DateTime, Utc};
use endcap_billing::{
    click_charge_nanos, impression_charge_nanos, offsite_cpm_charge_nanos, Limits,
};
use endcap_core::{AdChannel, Campaign, Exposure};
use endcap_events::{AdEvent, ChargeReason, ChargeRecord, ChargeSource, Event, EventSink};
use endcap_openrtb::clearing_price;
use endcap_tracking::{Claims, TokenError, TokenKind};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

/// Clock difference allowed between the replica that signed a token and the one reading it.
pub(crate) const CLOCK_SKEW_MS: i64 = 60_000;

/// What a tracking call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tracked {
    /// First sighting: logged (and charged where the pricing says so).
    Counted,
    /// Seen before within the token's lifetime: nothing logged or charged again.
    Duplicate,
}

/// Why a charge is not billed, if it is not.
#[derive(Clone, Copy)]
enum Verdict {
    Bill,
    Refuse(ChargeReason),
}

impl Server {
    /// An impression or click the invalid-traffic filter caught: counted, and recorded in
    /// the charge ledger as non-billable with the reason, once per decision and kind. It
    /// does not use up the decision (a person's impression or click may still follow and be
    /// billed), and it stays out of the ad tables, caps and the CTR counts, which attribution,
    /// delivery and pacing read.
    async fn invalid_sighting(
        &self,
        x: &Exposure,
        kind: TokenKind,
        source: ChargeSource,
        amount: i64,
        why: endcap_tracking::Invalid,
    ) {
        self.metrics.invalid(why);
        // Invalid sightings are deduplicated under a key of their own (a fixed transform of
        // the decision id), so a bot replaying a URL writes one ledger row, not thousands.
        let key = uuid::Uuid::from_u128(x.decision_id.as_uuid().as_u128() ^ INVALID_KEY_MASK);
        if !self.seen.first(kind, key, self.deadline(x, kind)).await {
            return;
        }
        self.ledger_row(x, source, charge_reason(why), Utc::now(), amount, 0);
    }
}

/// The ledger reason of an invalid-traffic verdict.
fn charge_reason(why: endcap_tracking::Invalid) -> ChargeReason {
    match why {
        endcap_tracking::Invalid::Bot => ChargeReason::Bot,
        endcap_tracking::Invalid::NoUserAgent => ChargeReason::NoUserAgent,
        endcap_tracking::Invalid::TooFast => ChargeReason::TooFast,
        endcap_tracking::Invalid::ClickRate(_) => ChargeReason::ClickRate,
    }
}

/// Turns a decision id into the dedup key of its invalid sightings (no real decision id
/// maps onto another's: XOR with a constant is a bijection).
const INVALID_KEY_MASK: u128 = 0x1d_5c0f_f1e5_a7ed_0000_0000_0000_0000;

impl Verdict {
    /// Test traffic is answered but never billed.
    fn unless_test(test: bool) -> Self {
        if test {
            Verdict::Refuse(ChargeReason::TestTraffic)
        } else {
            Verdict::Bill
        }
    }
}

impl Server {
    /// Verifies a token for `kind`, counting refusals by reason.
    pub fn verify(&self, token: Option<&str>, kind: TokenKind) -> Result<Claims, ServeError> {
        let Some(t) = token.filter(|t| !t.is_empty()) else {
            self.metrics.rejected("missing");
            return Err(TokenError::Malformed.into());
        };
        let now = Utc::now().timestamp_millis();
        let max_age = self.config.lifetimes.of(kind).as_millis() as i64;
        self.keys
            .verify(t, kind, now, max_age, CLOCK_SKEW_MS)
            .map_err(|e| {
                self.metrics.rejected(e.reason());
                tracing::info!(reason = e.reason(), "tracking token refused");
                e.into()
            })
    }

    /// When tokens of `kind` for this exposure stop being accepted, ms since the epoch.
    fn deadline(&self, x: &Exposure, kind: TokenKind) -> i64 {
        x.decided_at_ms + self.config.lifetimes.of(kind).as_millis() as i64 + CLOCK_SKEW_MS
    }

    /// The campaign charged for: as indexed, else read from the store (paused or ended
    /// since the ad was served, and this process never saw it).
    async fn campaign_of(&self, x: &Exposure) -> Result<Option<Arc<Campaign>>, ServeError> {
        if let Some(c) = self.index.campaign(x.campaign_id) {
            return Ok(Some(c));
        }
        Ok(self.index.fetch_campaign(x.campaign_id).await?)
    }

    /// Makes sure the budget a charge needs is at hand before the event is marked seen: a
    /// store that does not answer fails the call (the sender retries) instead of turning a
    /// real charge into an unbillable one whose retry would be a duplicate.
    async fn budget_ready(&self, x: &Exposure, amount: i64, media: i64) -> Result<(), ServeError> {
        if amount > 0 || media > 0 {
            self.campaign_of(x).await?;
        }
        Ok(())
    }

    fn promoted(&self, x: &Exposure) -> Vec<String> {
        self.index
            .line_item(x.line_item_id)
            .map(|l| l.promoted_skus.clone())
            .unwrap_or_default()
    }

    fn ledger_row(
        &self,
        x: &Exposure,
        source: ChargeSource,
        reason: ChargeReason,
        now: DateTime<Utc>,
        charge_nanos: i64,
        media_cost_nanos: i64,
    ) {
        self.sink.send(Event::Charge(ChargeRecord {
            decision_id: x.decision_id.as_uuid(),
            source,
            reason,
            ts_ms: now.timestamp_millis(),
            accounting_day: self.config.clock.local(now).day,
            advertiser_id: x.advertiser_id.as_uuid(),
            campaign_id: x.campaign_id.as_uuid(),
            line_item_id: x.line_item_id.as_uuid(),
            charge_nanos,
            media_cost_nanos,
            currency: self.config.rates.marketplace().to_string(),
            channel: x.channel.as_str().to_string(),
        }));
    }

    /// Charges `amount` nanos (and records `media` nanos of media cost), clamped to the
    /// campaign's budget, writing the ledger rows. Returns the billable part.
    async fn charge(
        &self,
        x: &Exposure,
        source: ChargeSource,
        amount: i64,
        media: i64,
        verdict: Verdict,
        now: DateTime<Utc>,
    ) -> i64 {
        if amount <= 0 && media <= 0 {
            return 0;
        }
        if let Verdict::Refuse(reason) = verdict {
            self.ledger_row(x, source, reason, now, amount, media);
            return 0;
        }
        let Ok(Some(campaign)) = self.campaign_of(x).await else {
            // A campaign nobody can find has no budget to bill against.
            tracing::warn!(campaign = %x.campaign_id, "charge for an unknown campaign recorded as over budget");
            self.ledger_row(x, source, ChargeReason::OverBudget, now, amount, media);
            return 0;
        };
        let day = self.config.clock.local(now).day;
        let split = self
            .budgets
            .charge(campaign.id, Limits::from(&campaign.budget), day, amount)
            .await;
        if split.billable > 0 || media > 0 {
            self.ledger_row(
                x,
                source,
                ChargeReason::Billable,
                now,
                split.billable,
                media,
            );
        }
        if split.over_budget > 0 {
            self.ledger_row(
                x,
                source,
                ChargeReason::OverBudget,
                now,
                split.over_budget,
                0,
            );
        }
        split.billable
    }

    /// True on the first sighting of the exposure for `kind`; a replay is ledgered as a
    /// duplicate instead. The budget a charge needs is made sure of first, so a store outage
    /// fails the call before anything is marked seen.
    async fn first_sighting(
        &self,
        x: &Exposure,
        kind: TokenKind,
        source: ChargeSource,
        amount: i64,
        media: i64,
    ) -> Result<bool, ServeError> {
        self.budget_ready(x, amount, media).await?;
        let id = x.decision_id.as_uuid();
        if self.seen.first(kind, id, self.deadline(x, kind)).await {
            return Ok(true);
        }
        self.duplicate(x, source, amount, media);
        Ok(false)
    }

    fn duplicate(&self, x: &Exposure, source: ChargeSource, amount: i64, media: i64) {
        self.metrics.duplicates.fetch_add(1, Relaxed);
        if amount > 0 || media > 0 {
            self.ledger_row(
                x,
                source,
                ChargeReason::Duplicate,
                Utc::now(),
                amount,
                media,
            );
        }
    }

    fn log_ad(&self, kind: TokenKind, x: &Exposure, now: DateTime<Utc>, billable: i64) {
        let mut e = AdEvent::new(x.clone(), now.timestamp_millis(), self.promoted(x));
        e.charge_nanos = billable;
        let (event, label) = match kind {
            TokenKind::Click => (Event::Click(e), "click"),
            _ => (Event::Impression(e), "impression"),
        };
        self.sink.send(event);
        self.metrics.logged(label);
    }

    /// An impression pixel. Onsite CPM ads are charged here; offsite ads are charged by the
    /// exchange's billing notice, never by the pixel.
    /// Answered only once the events it wrote are queued or, past a full queue, on disk.
    pub async fn impression(
        &self,
        token: Option<&str>,
        user_agent: Option<&str>,
    ) -> Result<Tracked, ServeError> {
        let out = self.impression_unsettled(token, user_agent).await;
        self.sink.settled().await;
        out
    }

    /// [`Server::impression`] without waiting for its events to settle.
    async fn impression_unsettled(
        &self,
        token: Option<&str>,
        user_agent: Option<&str>,
    ) -> Result<Tracked, ServeError> {
        let c = self.verify(token, TokenKind::Impression)?;
        let x = &c.exposure;
        let amount = match x.channel {
            AdChannel::Onsite => impression_charge_nanos(x.pricing, x.price_micros),
            AdChannel::Offsite => 0,
        };
        if let Some(why) = (!c.test)
            .then(|| self.config.traffic.impression(user_agent))
            .flatten()
        {
            self.invalid_sighting(
                x,
                TokenKind::Impression,
                ChargeSource::Impression,
                amount,
                why,
            )
            .await;
            return Ok(Tracked::Counted);
        }
        let id = x.decision_id.as_uuid();
        if !self
            .first_sighting(
                x,
                TokenKind::Impression,
                ChargeSource::Impression,
                amount,
                0,
            )
            .await?
        {
            return Ok(Tracked::Duplicate);
        }
        let now = Utc::now();
        if x.channel == AdChannel::Onsite {
            // The charge replaces the reservation.
            self.budgets.release(id);
        }
        if !x.user_key.is_empty() && !c.test {
            self.caps.record(
                &x.user_key,
                endcap_auction::CapOwner::all(x.line_item_id, x.campaign_id, x.advertiser_id),
                endcap_auction::CapBuckets::of(&self.config.clock.local(now)),
            );
        }
        if !c.test {
            self.model.record(x, now.timestamp_millis(), false);
        }
        let verdict = Verdict::unless_test(c.test);
        let billable = self
            .charge(x, ChargeSource::Impression, amount, 0, verdict, now)
            .await;
        if !c.test {
            self.log_ad(TokenKind::Impression, x, now, billable);
        }
        Ok(Tracked::Counted)
    }

    /// A click: charges CPC ads, and answers where to redirect (from the signed token, so
    /// this is no open redirect).
    /// Answered only once the events it wrote are queued or, past a full queue, on disk.
    pub async fn click(
        &self,
        token: Option<&str>,
        user_agent: Option<&str>,
        client_ip: Option<std::net::IpAddr>,
    ) -> Result<(Tracked, String), ServeError> {
        let out = self.click_unsettled(token, user_agent, client_ip).await;
        self.sink.settled().await;
        out
    }

    /// [`Server::click`] without waiting for its events to settle.
    async fn click_unsettled(
        &self,
        token: Option<&str>,
        user_agent: Option<&str>,
        client_ip: Option<std::net::IpAddr>,
    ) -> Result<(Tracked, String), ServeError> {
        let c = self.verify(token, TokenKind::Click)?;
        let x = &c.exposure;
        let amount = click_charge_nanos(x.pricing, x.price_micros);
        // Bots and requests without a user agent are filtered without using up the
        // decision: a person's click on the same ad later is still billed.
        if let Some(why) = (!c.test)
            .then(|| self.config.traffic.impression(user_agent))
            .flatten()
        {
            self.invalid_sighting(x, TokenKind::Click, ChargeSource::Click, amount, why)
                .await;
            return Ok((Tracked::Counted, c.click_url));
        }
        let id = x.decision_id.as_uuid();
        if !self
            .first_sighting(x, TokenKind::Click, ChargeSource::Click, amount, 0)
            .await?
        {
            return Ok((Tracked::Duplicate, c.click_url));
        }
        // A click too soon after its decision, or past its clicker's rate, uses the decision
        // up: ledgered with its reason, and the same click sent again later (the next hour,
        // another replica) is a duplicate, never billed. Only first sightings are judged, so
        // replaying one token cannot push a placement past its rate.
        let pace = (!c.test)
            .then(|| {
                self.config.traffic.click_pace(
                    x.decided_at_ms,
                    Utc::now().timestamp_millis(),
                    endcap_tracking::Clicker {
                        user: &x.user_key,
                        ip: client_ip,
                        placement: &x.placement,
                    },
                )
            })
            .flatten();
        if let Some(why) = pace {
            self.metrics.invalid(why);
            self.ledger_row(
                x,
                ChargeSource::Click,
                charge_reason(why),
                Utc::now(),
                amount,
                0,
            );
            return Ok((Tracked::Counted, c.click_url));
        }
        let now = Utc::now();
        let impression_seen = self.seen.was_seen(TokenKind::Impression, id).await;
        if !impression_seen {
            self.metrics.clicks_without_impression.fetch_add(1, Relaxed);
        }
        if !c.test && impression_seen {
            self.model.record(x, now.timestamp_millis(), true);
        }
        let verdict = if !c.test && !impression_seen && self.config.clicks_need_impression {
            Verdict::Refuse(ChargeReason::InvalidTraffic)
        } else {
            Verdict::unless_test(c.test)
        };
        let billable = self
            .charge(x, ChargeSource::Click, amount, 0, verdict, now)
            .await;
        if !c.test {
            self.log_ad(TokenKind::Click, x, now, billable);
        }
        Ok((Tracked::Counted, c.click_url))
    }

    /// An exchange's billing notice with its `${AUCTION_PRICE}`: records the media cost
    /// and charges CPM line items (media cost grossed up by the take rate, never past the
    /// line item's bid), clamped to the budget. The price is checked first: a number, >= 0,
    /// <= our bid.
    /// Answered only once the events it wrote are queued or, past a full queue, on disk.
    pub async fn bill(
        &self,
        token: Option<&str>,
        price: Option<&str>,
    ) -> Result<Tracked, ServeError> {
        let out = self.bill_unsettled(token, price).await;
        self.sink.settled().await;
        out
    }

    /// [`Server::bill`] without waiting for its events to settle.
    async fn bill_unsettled(
        &self,
        token: Option<&str>,
        price: Option<&str>,
    ) -> Result<Tracked, ServeError> {
        let c = self.verify(token, TokenKind::Bill)?;
        let x = &c.exposure;
        let rates = &self.config.rates;
        let cur = if c.currency.is_empty() {
            rates.marketplace()
        } else {
            c.currency.as_str()
        };
        let our_bid = rates.from_marketplace(x.bid_cpm_micros, cur).unwrap_or(0);
        let exchange = self.exchange_named(&c.exchange);
        let price = clearing_price(exchange.price.as_ref(), price, our_bid).inspect_err(|e| {
            self.metrics.bad_prices.fetch_add(1, Relaxed);
            tracing::info!(error = %e, exchange = %exchange.name, "billing notice refused");
        })?;
        // Per impression, in marketplace nanos: a CPM of N micros is N nanos per impression.
        let media = rates
            .to_marketplace(price, cur)
            .unwrap_or(0)
            .min(x.bid_cpm_micros);
        let amount =
            // Offsite a CPM exposure's price is the advertiser's value per mille: the cap.
            offsite_cpm_charge_nanos(x.pricing, x.price_micros, media, self.config.take_rate);
        let id = x.decision_id.as_uuid();
        if !self
            .first_sighting(x, TokenKind::Bill, ChargeSource::Bill, amount, media)
            .await?
        {
            return Ok(Tracked::Duplicate);
        }
        let now = Utc::now();
        self.budgets.release(id);
        let verdict = Verdict::unless_test(c.test);
        let billable = self
            .charge(x, ChargeSource::Bill, amount, media, verdict, now)
            .await;
        // A billed ad was shown: count the impression if its pixel has not.
        if !c.test
            && self
                .seen
                .first(
                    TokenKind::Impression,
                    id,
                    self.deadline(x, TokenKind::Impression),
                )
                .await
        {
            if !x.user_key.is_empty() {
                self.caps.record(
                    &x.user_key,
                    endcap_auction::CapOwner::all(x.line_item_id, x.campaign_id, x.advertiser_id),
                    endcap_auction::CapBuckets::of(&self.config.clock.local(now)),
                );
            }
            self.model.record(x, now.timestamp_millis(), false);
            self.log_ad(TokenKind::Impression, x, now, billable);
        }
        Ok(Tracked::Counted)
    }

    /// An exchange's loss notice: the reservation is released at once. Its token is a
    /// loss token, which `/v1/events/bill` refuses: the loss URL reaches many hands.
    pub fn loss(&self, token: Option<&str>) -> Result<(), ServeError> {
        let c = self.verify(token, TokenKind::Loss)?;
        self.budgets.release(c.exposure.decision_id.as_uuid());
        self.metrics.logged("loss");
        Ok(())
    }
}
