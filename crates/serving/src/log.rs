//! The decision log: one row per filled slot and per ghost, queued at decision time.

use crate::Server;
use endcap_auction::{Context, Placed};
use endcap_core::Exposure;
use endcap_events::{AdEvent, Arm, DecisionRecord, Event, EventSink};
use uuid::Uuid;

fn device_name(ctx: &Context) -> String {
    ctx.device
        .map(|d| d.as_str().to_string())
        .unwrap_or_default()
}

impl Server {
    /// Queues the decision-log row of a placed ad or ghost (never waits on the log).
    pub(crate) fn log_decision(
        &self,
        ctx: &Context,
        request_id: Uuid,
        p: &Placed,
        exposure: &Exposure,
        arm: Arm,
    ) {
        let li = &p.candidate.line_item;
        let record = DecisionRecord {
            exposure: exposure.clone(),
            request_id,
            arm,
            slot_id: p.slot_id.clone(),
            slot_count: p.slot_count.min(usize::from(u16::MAX)) as u16,
            // The bid it competed with: keyword or line item bid x placement multiplier.
            bid_micros: p.bid.micros,
            pctr: p.pctr,
            ecpm_micros: p.ecpm_micros,
            promoted_skus: li.promoted_skus.clone(),
            keywords: ctx.keywords.clone(),
            categories: ctx.categories.clone(),
            store_id: ctx.store_id.clone().unwrap_or_default(),
            page_type: ctx.page_type.clone(),
            device: device_name(ctx),
            local_hour: ctx.local.hour,
            local_weekday: ctx.local.weekday,
            segments: ctx.segments.clone(),
            features: serde_json::to_string(&p.features).unwrap_or_default(),
            // The version in use as the row is written (a swap between scoring and logging
            // is a window of microseconds, once per reload).
            model_version: self.model.get().version.clone(),
            explored: p.explored,
            query: Context::normalize_keyword(&ctx.query),
            matched_keyword: p
                .keyword
                .and_then(|k| li.targeting.keywords.get(usize::from(k.index)))
                .map(|k| k.text.clone())
                .unwrap_or_default(),
            match_type: p
                .keyword
                .map(|k| k.match_type.as_str().to_string())
                .unwrap_or_default(),
            bid_multiplier_bps: p.bid.multiplier.bps(),
        };
        self.sink.send(Event::Decision(Box::new(record)));
    }

    /// Logs the ghosts of a decision: the decision-log row, the `exposure_holdouts` row, and
    /// a frequency-cap count (a ghost counts toward caps like a real ad, so both arms see
    /// the same number of ads).
    pub(crate) fn log_ghosts(&self, ctx: &Context, request_id: Uuid, ghosts: &[Placed]) {
        for g in ghosts {
            let x = g.exposure(ctx);
            self.log_decision(ctx, request_id, g, &x, Arm::Ghost);
            if !ctx.user_key.is_empty() {
                self.caps.record(
                    &ctx.user_key,
                    endcap_auction::CapOwner::all(x.line_item_id, x.campaign_id, x.advertiser_id),
                    endcap_auction::CapBuckets::of(&ctx.local),
                );
            }
            let promoted = g.candidate.line_item.promoted_skus.clone();
            self.sink.send(Event::HoldoutExposure(AdEvent::new(
                x,
                ctx.now.timestamp_millis(),
                promoted,
            )));
        }
    }
}
