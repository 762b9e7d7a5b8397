//! The version of the settings a run attributed with, stored beside its results so an
//! explanation names the rules that produced it.

use endcap_core::{AttributionModel, AttributionSettings, MatchScope};
use uuid::Uuid;

/// A short stable hash (FNV-1a 64, hex) of a run's model, half-life and each campaign's
/// windows and scope: equal settings give equal versions on every machine.
pub fn settings_version(
    model: AttributionModel,
    half_life_secs: i64,
    campaigns: &[(Uuid, AttributionSettings)],
) -> String {
    let mut sorted: Vec<&(Uuid, AttributionSettings)> = campaigns.iter().collect();
    sorted.sort_by_key(|(id, _)| *id);
    let mut text = format!("{};{half_life_secs}", model_name(model));
    for (id, s) in sorted {
        text.push_str(&format!(
            ";{id}:{}:{}:{}",
            s.click_window_days.days(),
            s.view_window_days.days(),
            scope_name(s.scope)
        ));
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The model's name as the CLI and the results table spell it.
pub fn model_name(m: AttributionModel) -> &'static str {
    match m {
        AttributionModel::LastTouch => "last_touch",
        AttributionModel::FirstTouch => "first_touch",
        AttributionModel::Linear => "linear",
        AttributionModel::TimeDecay => "time_decay",
        AttributionModel::PositionBased => "position",
    }
}

/// The scope's name as the CLI and the results table spell it.
pub fn scope_name(s: MatchScope) -> &'static str {
    match s {
        MatchScope::Sku => "sku",
        MatchScope::Brand => "brand",
        MatchScope::Category => "category",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use endcap_core::WindowDays;

    #[test]
    fn the_version_follows_the_settings_not_their_order() {
        let a = Uuid::from_u128(1);
        let b = Uuid::from_u128(2);
        let s = AttributionSettings::default();
        let wider = AttributionSettings {
            view_window_days: WindowDays::parse(14, "v").unwrap(),
            ..s
        };
        let m = AttributionModel::LastTouch;
        let v1 = settings_version(m, 604_800, &[(a, s), (b, s)]);
        assert_eq!(v1, settings_version(m, 604_800, &[(b, s), (a, s)]));
        assert_ne!(v1, settings_version(m, 604_800, &[(a, s), (b, wider)]));
        assert_ne!(
            v1,
            settings_version(AttributionModel::Linear, 604_800, &[(a, s), (b, s)])
        );
        assert_eq!(v1.len(), 16);
    }
}
