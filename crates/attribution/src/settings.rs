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
    let mut text = format!("{};{half_life_secs}", model.name());
    for (id, s) in sorted {
        text.push_str(&format!(
            ";{id}:{}:{}:{}",
            s.click_window_days.days(),
            s.view_window_days.days(),
            scope_name(s.scope)
        ));
    }
    format!("{:016x}", endcap_core::fnv1a64(text.as_bytes()))
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
