//! `POST /v1/events/conversion`: online orders the retailer's site reports.

use crate::{ServeError, Server};
use endcap_core::{validate_label, Currency, HashedKey, Micros, Sku};
use endcap_events::{ConversionEvent, Event, EventSink};
use serde::Deserialize;
use uuid::Uuid;

/// Body of `POST /v1/events/conversion`: an online order, reported by the retailer's site.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversionInput {
    /// The retailer's order id; reporting it again counts once.
    order_id: String,
    /// Hashed (SHA-256 hex) online user key.
    user_key: String,
    /// SKUs bought.
    #[serde(default)]
    skus: Vec<String>,
    /// Order amount in micros, >= 0.
    amount_micros: i64,
    /// ISO 4217 currency.
    currency: String,
    /// When the order was placed (RFC 3339); default now.
    ts: Option<chrono::DateTime<chrono::Utc>>,
}

/// Namespace of conversion event ids: the same order always maps to the same id.
const CONVERSION_NS: Uuid = Uuid::from_u128(0x6e64_6361_705f_636f_6e76_6572_7369_6f6e);

impl Server {
    /// Validates and queues an online conversion; returns its event id (the same for a
    /// re-sent order, so it counts once).
    pub async fn conversion(&self, input: ConversionInput) -> Result<Uuid, ServeError> {
        let order_id = validate_label(&input.order_id, "order_id")?;
        let user_key = HashedKey::parse(&input.user_key, "user_key")?;
        Micros::non_negative(input.amount_micros, "amount_micros")?;
        let currency = Currency::parse(input.currency.trim(), "currency")?;
        let mut skus = Vec::with_capacity(input.skus.len());
        for (i, s) in input.skus.iter().enumerate() {
            skus.push(Sku::parse(s, &format!("skus[{i}]"))?.as_str().to_string());
        }
        let event_id = Uuid::new_v5(&CONVERSION_NS, order_id.as_bytes());
        self.sink.send(Event::Conversion(ConversionEvent {
            event_id,
            ts_ms: input.ts.unwrap_or_else(chrono::Utc::now).timestamp_millis(),
            user_key: user_key.as_str().to_string(),
            order_id,
            skus,
            amount_micros: input.amount_micros,
            currency: currency.as_str().to_string(),
        }));
        self.metrics.logged("conversion");
        self.sink.settled().await;
        Ok(event_id)
    }
}
