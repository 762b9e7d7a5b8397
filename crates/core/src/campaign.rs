//! Campaigns: a budget, a flight and how their sales are attributed.

use crate::{text, AdvertiserId, CampaignId, Currency, Micros, Status, Timestamp, ValidationError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An attribution look-back window in days, 1..=90.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(transparent)]
pub struct WindowDays(u16);

impl WindowDays {
    /// Longest window we attribute over; beyond it, ads get credit for habit.
    pub const MAX: i64 = 90;

    /// Accepts 1..=90 days, else an error naming `field`.
    pub fn parse(days: i64, field: &str) -> Result<Self, ValidationError> {
        if (1..=Self::MAX).contains(&days) {
            Ok(Self(days as u16))
        } else {
            Err(ValidationError::new(
                field,
                format!("must be between 1 and {} days", Self::MAX),
            ))
        }
    }

    /// The number of days.
    pub fn days(self) -> u16 {
        self.0
    }
}

/// Which receipt lines an exposure can take credit for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MatchScope {
    /// Only the promoted SKUs themselves.
    Sku,
    /// Any product of the promoted SKUs' brand (halo).
    Brand,
    /// Any product of the promoted SKUs' category.
    Category,
}

/// How credit for one receipt line is split among the exposures that preceded it.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AttributionModel {
    /// All credit to the last exposure, a click beating any view.
    #[default]
    LastTouch,
    /// All credit to the first exposure.
    FirstTouch,
    /// Equal credit to every exposure.
    Linear,
    /// More credit to recent exposures.
    TimeDecay,
    /// 40% first, 40% last, the rest spread over the middle.
    PositionBased,
}

impl AttributionModel {
    /// Every model, in the order they are documented.
    pub const ALL: [AttributionModel; 5] = [
        AttributionModel::LastTouch,
        AttributionModel::FirstTouch,
        AttributionModel::Linear,
        AttributionModel::TimeDecay,
        AttributionModel::PositionBased,
    ];

    /// The name the attribution job, its results and the reports use.
    pub fn name(self) -> &'static str {
        match self {
            AttributionModel::LastTouch => "last_touch",
            AttributionModel::FirstTouch => "first_touch",
            AttributionModel::Linear => "linear",
            AttributionModel::TimeDecay => "time_decay",
            AttributionModel::PositionBased => "position",
        }
    }

    /// The model a name (or the API's `position_based`) stands for.
    pub fn from_name(name: &str) -> Option<Self> {
        if name == "position_based" {
            return Some(AttributionModel::PositionBased);
        }
        Self::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// A campaign's attribution rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AttributionSettings {
    /// Days after a click in which a purchase counts.
    pub click_window_days: WindowDays,
    /// Days after an impression in which a purchase counts.
    pub view_window_days: WindowDays,
    /// Which products count.
    pub scope: MatchScope,
    /// How credit is split.
    pub model: AttributionModel,
}

impl Default for AttributionSettings {
    /// The defaults when a campaign names none: 14-day click, 7-day view, same SKU, last touch.
    fn default() -> Self {
        Self {
            click_window_days: WindowDays(14),
            view_window_days: WindowDays(7),
            scope: MatchScope::Sku,
            model: AttributionModel::LastTouch,
        }
    }
}

/// A campaign's spending limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Budget {
    /// Most the campaign may spend over its flight.
    pub total_micros: Micros,
    /// Most it may spend in one UTC day.
    pub daily_micros: Micros,
}

impl Budget {
    fn checked(total: i64, daily: i64) -> Result<Self, ValidationError> {
        let total_micros = Micros::positive(total, "budget.total_micros")?;
        let daily_micros = Micros::positive(daily, "budget.daily_micros")?;
        if daily_micros > total_micros {
            return Err(ValidationError::new(
                "budget.daily_micros",
                "must not exceed budget.total_micros",
            ));
        }
        Ok(Self {
            total_micros,
            daily_micros,
        })
    }
}

/// A campaign as stored and returned by the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Campaign {
    /// Its id.
    pub id: CampaignId,
    /// Owner.
    pub advertiser_id: AdvertiserId,
    /// Display name.
    pub name: String,
    /// Lifecycle state.
    pub status: Status,
    /// Currency of every amount, the advertiser's.
    pub currency: Currency,
    /// Spending limits.
    pub budget: Budget,
    /// First instant it may serve (UTC, inclusive).
    pub start_at: DateTime<Utc>,
    /// Instant it stops serving (UTC, exclusive).
    pub end_at: DateTime<Utc>,
    /// Attribution rules.
    pub attribution: AttributionSettings,
    /// Share of users (0..=50) who never see its ads, to measure incrementality.
    pub holdout_percent: u8,
    /// Optimistic-concurrency version; PATCH must echo it.
    pub version: i64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Per-user cap over all its line items' impressions, if any.
    #[serde(default)]
    pub frequency_cap: Option<crate::FrequencyCap>,
}

/// Largest holdout we allow: past it, the campaign mostly buys nothing.
const MAX_HOLDOUT: i64 = 50;

fn holdout(p: i64) -> Result<u8, ValidationError> {
    if (0..=MAX_HOLDOUT).contains(&p) {
        Ok(p as u8)
    } else {
        Err(ValidationError::new(
            "holdout_percent",
            format!("must be between 0 and {MAX_HOLDOUT}"),
        ))
    }
}

fn flight(start: Timestamp, end: Timestamp) -> Result<(), ValidationError> {
    if end <= start {
        return Err(ValidationError::new("end_at", "must be after start_at"));
    }
    Ok(())
}

/// `budget` in a create request.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BudgetInput {
    /// Flight budget in micros, > 0.
    pub total_micros: i64,
    /// Daily budget in micros, > 0 and <= total.
    pub daily_micros: i64,
}

/// `attribution` in a create request.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttributionInput {
    /// 1..=90.
    pub click_window_days: i64,
    /// 1..=90.
    pub view_window_days: i64,
    /// `sku`, `brand` or `category`.
    pub scope: MatchScope,
    /// Defaults to `last_touch`.
    #[serde(default)]
    pub model: AttributionModel,
}

impl AttributionInput {
    fn validate(&self) -> Result<AttributionSettings, ValidationError> {
        Ok(AttributionSettings {
            click_window_days: WindowDays::parse(
                self.click_window_days,
                "attribution.click_window_days",
            )?,
            view_window_days: WindowDays::parse(
                self.view_window_days,
                "attribution.view_window_days",
            )?,
            scope: self.scope,
            model: self.model,
        })
    }
}

/// Body of `POST /v1/campaigns` as received.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignInput {
    /// Owner; may be left out with an advertiser key, which implies it.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub advertiser_id: Option<AdvertiserId>,
    /// Display name.
    pub name: String,
    /// Spending limits.
    pub budget: BudgetInput,
    /// RFC 3339 start of flight.
    pub start_at: DateTime<Utc>,
    /// RFC 3339 end of flight, after `start_at`.
    pub end_at: DateTime<Utc>,
    /// Defaults: 14-day click, 7-day view, `sku` scope, `last_touch`.
    #[serde(default)]
    pub attribution: Option<AttributionInput>,
    /// 0..=50, default 0.
    #[serde(default)]
    pub holdout_percent: i64,
    /// `draft` (default), `active` or `paused`.
    #[serde(default)]
    pub status: Option<Status>,
    /// Per-user cap over all its line items' impressions (`{max, per}`).
    #[serde(default)]
    pub frequency_cap: Option<crate::FrequencyCap>,
}

/// A validated new campaign (its owner resolved by the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCampaign {
    /// Display name.
    pub name: String,
    /// Lifecycle state to start in.
    pub status: Status,
    /// Spending limits.
    pub budget: Budget,
    /// Start of flight.
    pub start_at: DateTime<Utc>,
    /// End of flight.
    pub end_at: DateTime<Utc>,
    /// Attribution rules.
    pub attribution: AttributionSettings,
    /// Holdout share.
    pub holdout_percent: u8,
    /// Per-user cap over all its line items.
    pub frequency_cap: Option<crate::FrequencyCap>,
}

impl CampaignInput {
    /// Checks the input, naming the first bad field.
    pub fn validate(&self) -> Result<NewCampaign, ValidationError> {
        let name = text::name(&self.name, "name")?;
        let budget = Budget::checked(self.budget.total_micros, self.budget.daily_micros)?;
        flight(self.start_at, self.end_at)?;
        let attribution = match &self.attribution {
            Some(a) => a.validate()?,
            None => AttributionSettings::default(),
        };
        Ok(NewCampaign {
            name,
            status: Status::initial(self.status, "status")?,
            budget,
            start_at: self.start_at,
            end_at: self.end_at,
            attribution,
            holdout_percent: holdout(self.holdout_percent)?,
            frequency_cap: self
                .frequency_cap
                .map(crate::FrequencyCap::validated)
                .transpose()?,
        })
    }
}

/// `budget` in a PATCH: fields left out keep their value.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BudgetPatch {
    /// New flight budget.
    pub total_micros: Option<i64>,
    /// New daily budget.
    pub daily_micros: Option<i64>,
}

/// `attribution` in a PATCH: fields left out keep their value.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttributionPatch {
    /// New click window.
    pub click_window_days: Option<i64>,
    /// New view window.
    pub view_window_days: Option<i64>,
    /// New match scope.
    pub scope: Option<MatchScope>,
    /// New model.
    pub model: Option<AttributionModel>,
}

/// Body of `PATCH /v1/campaigns/{id}`: the version read plus the fields to change.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignPatch {
    /// The version the client read; a stale one answers 409.
    pub version: i64,
    /// New name.
    pub name: Option<String>,
    /// Budget changes.
    pub budget: Option<BudgetPatch>,
    /// New start.
    pub start_at: Option<DateTime<Utc>>,
    /// New end.
    pub end_at: Option<DateTime<Utc>>,
    /// Attribution changes.
    pub attribution: Option<AttributionPatch>,
    /// New holdout share; only while the campaign is a draft.
    pub holdout_percent: Option<i64>,
    /// New status; transitions are checked.
    pub status: Option<Status>,
    /// New cap over all its line items; `null` removes it.
    #[serde(default, deserialize_with = "crate::line_item::nullable")]
    #[schema(value_type = Option<crate::FrequencyCap>, nullable)]
    pub frequency_cap: Option<Option<crate::FrequencyCap>>,
}

impl CampaignPatch {
    /// Applies the patch to `current`, checking the result as a whole (so a new end date is
    /// compared with the start date it will actually have). The version is left for the
    /// store to bump.
    pub fn apply(&self, current: &Campaign) -> Result<Campaign, ValidationError> {
        if current.status == Status::Archived {
            return Err(ValidationError::new(
                "status",
                "an archived campaign cannot be changed",
            ));
        }
        let mut next = current.clone();
        if let Some(n) = &self.name {
            next.name = text::name(n, "name")?;
        }
        if let Some(b) = &self.budget {
            next.budget = Budget::checked(
                b.total_micros.unwrap_or(current.budget.total_micros.get()),
                b.daily_micros.unwrap_or(current.budget.daily_micros.get()),
            )?;
        }
        next.start_at = self.start_at.unwrap_or(current.start_at);
        next.end_at = self.end_at.unwrap_or(current.end_at);
        flight(next.start_at, next.end_at)?;
        if let Some(a) = &self.attribution {
            let cur = current.attribution;
            next.attribution = AttributionInput {
                click_window_days: a
                    .click_window_days
                    .unwrap_or(i64::from(cur.click_window_days.days())),
                view_window_days: a
                    .view_window_days
                    .unwrap_or(i64::from(cur.view_window_days.days())),
                scope: a.scope.unwrap_or(cur.scope),
                model: a.model.unwrap_or(cur.model),
            }
            .validate()?;
        }
        if let Some(h) = self.holdout_percent {
            let h = holdout(h)?;
            // Moving the holdout line mid-flight would mix exposed and held-out users and
            // void the campaign's incrementality numbers.
            if h != current.holdout_percent && current.status != Status::Draft {
                return Err(ValidationError::new(
                    "holdout_percent",
                    "can only change while the campaign is a draft",
                ));
            }
            next.holdout_percent = h;
        }
        if let Some(s) = self.status {
            next.status = current.status.transition(s, "status")?;
        }
        if let Some(cap) = self.frequency_cap {
            next.frequency_cap = cap.map(crate::FrequencyCap::validated).transpose()?;
        }
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn model_names_round_trip_and_the_api_alias_is_understood() {
        for m in AttributionModel::ALL {
            assert_eq!(AttributionModel::from_name(m.name()), Some(m));
        }
        assert_eq!(
            AttributionModel::from_name("position_based"),
            Some(AttributionModel::PositionBased)
        );
        assert_eq!(AttributionModel::from_name("magic"), None);
        // FNV-1a's published test vector.
        assert_eq!(crate::fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    use super::*;
    use chrono::{Duration, TimeZone, Utc};
    use proptest::prelude::*;

    fn input() -> CampaignInput {
        CampaignInput {
            advertiser_id: None,
            name: "Spring".into(),
            budget: BudgetInput {
                total_micros: 1_000_000_000,
                daily_micros: 100_000_000,
            },
            start_at: Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap(),
            end_at: Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0).unwrap(),
            attribution: None,
            holdout_percent: 10,
            status: None,
            frequency_cap: None,
        }
    }

    fn campaign() -> Campaign {
        let n = input().validate().unwrap();
        Campaign {
            id: CampaignId::generate(),
            advertiser_id: AdvertiserId::generate(),
            name: n.name,
            status: n.status,
            currency: Currency::parse("USD", "c").unwrap(),
            budget: n.budget,
            start_at: n.start_at,
            end_at: n.end_at,
            attribution: n.attribution,
            holdout_percent: n.holdout_percent,
            version: 1,
            created_at: n.start_at,
            updated_at: n.start_at,
            frequency_cap: None,
        }
    }

    fn patch() -> CampaignPatch {
        CampaignPatch {
            version: 1,
            name: None,
            budget: None,
            start_at: None,
            end_at: None,
            attribution: None,
            holdout_percent: None,
            status: None,
            frequency_cap: None,
        }
    }

    #[test]
    fn a_good_campaign_starts_as_draft_with_default_attribution() {
        let n = input().validate().unwrap();
        assert_eq!(n.status, Status::Draft);
        assert_eq!(n.attribution, AttributionSettings::default());
    }

    #[test]
    fn end_before_start_names_end_at() {
        let mut i = input();
        i.end_at = i.start_at - Duration::days(1);
        assert_eq!(i.validate().unwrap_err().field, "end_at");
    }

    #[test]
    fn daily_budget_above_total_is_refused() {
        let mut i = input();
        i.budget.daily_micros = i.budget.total_micros + 1;
        assert_eq!(i.validate().unwrap_err().field, "budget.daily_micros");
    }

    #[test]
    fn patching_only_the_end_is_checked_against_the_stored_start() {
        let c = campaign();
        let mut p = patch();
        p.end_at = Some(c.start_at - Duration::hours(1));
        assert_eq!(p.apply(&c).unwrap_err().field, "end_at");
    }

    #[test]
    fn holdout_is_frozen_once_the_campaign_left_draft() {
        let mut c = campaign();
        c.status = Status::Active;
        let mut p = patch();
        p.holdout_percent = Some(20);
        assert_eq!(p.apply(&c).unwrap_err().field, "holdout_percent");
        p.holdout_percent = Some(10);
        assert!(p.apply(&c).is_ok(), "restating the same value is fine");
    }

    #[test]
    fn archived_campaigns_are_read_only() {
        let mut c = campaign();
        c.status = Status::Archived;
        let mut p = patch();
        p.name = Some("x".into());
        assert_eq!(p.apply(&c).unwrap_err().field, "status");
    }

    #[test]
    fn a_partial_attribution_patch_keeps_the_other_settings() {
        let c = campaign();
        let mut p = patch();
        p.attribution = Some(AttributionPatch {
            click_window_days: Some(30),
            ..Default::default()
        });
        let n = p.apply(&c).unwrap();
        assert_eq!(n.attribution.click_window_days.days(), 30);
        assert_eq!(
            n.attribution.view_window_days,
            c.attribution.view_window_days
        );
    }

    proptest! {
        #[test]
        fn windows_accept_exactly_1_to_90(d in -1000i64..1000) {
            prop_assert_eq!(WindowDays::parse(d, "w").is_ok(), (1..=90).contains(&d));
        }

        #[test]
        fn a_valid_budget_never_has_daily_above_total(t in any::<i64>(), d in any::<i64>()) {
            if let Ok(b) = Budget::checked(t, d) {
                prop_assert!(b.daily_micros <= b.total_micros);
                prop_assert!(b.daily_micros.get() > 0);
            }
        }

        #[test]
        fn validation_accepts_iff_every_rule_holds(
            total in -10i64..10_000, daily in -10i64..10_000, hold in -5i64..60,
            click in -5i64..100, view in -5i64..100, len in 0i64..100,
        ) {
            let mut i = input();
            i.budget = BudgetInput { total_micros: total, daily_micros: daily };
            i.holdout_percent = hold;
            i.end_at = i.start_at + Duration::hours(len);
            i.attribution = Some(AttributionInput {
                click_window_days: click, view_window_days: view,
                scope: MatchScope::Brand, model: AttributionModel::Linear,
            });
            let ok = total > 0 && daily > 0 && daily <= total && (0..=50).contains(&hold)
                && (1..=90).contains(&click) && (1..=90).contains(&view) && len > 0;
            prop_assert_eq!(i.validate().is_ok(), ok);
        }
    }
}
