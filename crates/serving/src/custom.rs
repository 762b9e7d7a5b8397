//! Custom events of placed ads (add to cart, view-through, or any configured name): each
//! placed ad gets a signed URL per configured name; a hit is verified like an impression,
//! de-duplicated per decision and name across replicas, logged to `custom_events`, and
//! never charged.

use crate::{ServeError, Server, Tracked};
use chrono::Utc;
use endcap_events::{CustomEvent, Event, EventSink};
use endcap_tracking::{ClaimsHead, TokenKind};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use uuid::Uuid;

/// The id of a decision's custom event `name`: a UUIDv5 of the name in the decision id's
/// namespace, so each (decision, name) has one id on every replica (the dedup key, and the
/// ClickHouse key a replay collapses on).
pub fn custom_event_id(decision: Uuid, name: &str) -> Uuid {
    Uuid::new_v5(&decision, name.as_bytes())
}

impl Server {
    /// The signed custom-event URLs of an exposure (its `signer`), one per configured name.
    pub(crate) fn event_urls(
        &self,
        signer: &mut endcap_tracking::Signer<'_>,
    ) -> BTreeMap<String, String> {
        let base = &self.config.public_url;
        self.config
            .custom_events
            .iter()
            .map(|name| {
                let head = ClaimsHead {
                    event: name,
                    ..ClaimsHead::of(TokenKind::Event)
                };
                let url = crate::tracking_url(base, "/v1/events/custom", signer, &head, "");
                (name.clone(), url)
            })
            .collect()
    }

    /// A custom event from its signed URL: the first sighting per decision and name is
    /// logged; a replay, or a known bot (or no user agent), is not. Never charged: nothing
    /// here touches budgets or the ledger. The name is the one signed into the token (a
    /// name removed from the configuration since is still taken: we issued it).
    /// Answered only once the event it wrote is queued or, past a full queue, on disk.
    pub async fn custom_event(
        &self,
        token: Option<&str>,
        user_agent: Option<&str>,
    ) -> Result<Tracked, ServeError> {
        let c = self.verify(token, TokenKind::Event)?;
        let x = &c.exposure;
        if let Some(why) = (!c.test)
            .then(|| self.config.traffic.impression(user_agent))
            .flatten()
        {
            // Counted as invalid traffic; it stays out of the table, and does not use up the
            // decision's event (a person's later one is logged).
            self.metrics.invalid(why);
            return Ok(Tracked::Counted);
        }
        let id = custom_event_id(x.decision_id.as_uuid(), &c.event);
        let until = x.decided_at_ms
            + self.config.lifetimes.of(TokenKind::Event).as_millis() as i64
            + crate::track::CLOCK_SKEW_MS;
        if !self.seen.first(TokenKind::Event, id, until).await {
            self.metrics.duplicates.fetch_add(1, Relaxed);
            return Ok(Tracked::Duplicate);
        }
        if !c.test {
            self.sink.send(Event::Custom(CustomEvent {
                event_id: id,
                name: c.event.clone(),
                ts_ms: Utc::now().timestamp_millis(),
                exposure: x.clone(),
            }));
            self.metrics.logged("custom");
        }
        self.sink.settled().await;
        Ok(Tracked::Counted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_id_per_decision_and_name() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(
            custom_event_id(a, "add_to_cart"),
            custom_event_id(a, "add_to_cart")
        );
        assert_ne!(
            custom_event_id(a, "add_to_cart"),
            custom_event_id(a, "view_through")
        );
        assert_ne!(
            custom_event_id(a, "add_to_cart"),
            custom_event_id(b, "add_to_cart")
        );
        assert_ne!(custom_event_id(a, "add_to_cart"), a);
    }
}
