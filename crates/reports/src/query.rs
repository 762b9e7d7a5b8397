//! What a report is asked for: days, grouping, model, and whose figures.

use chrono::NaiveDate;
use endcap_store::StoreError;
use uuid::Uuid;

/// Refuses a model name the job never writes, naming the field.
pub fn check_model(model: &str) -> Result<(), ReportError> {
    // The names the job writes (not the API's `position_based` alias: no results carry it).
    if endcap_core::AttributionModel::ALL
        .iter()
        .any(|m| m.name() == model)
    {
        Ok(())
    } else {
        Err(invalid(
            "model",
            "use last_touch, first_touch, linear, time_decay or position",
        ))
    }
}

/// Longest report span, days (a year and a leap day).
const MAX_DAYS: i64 = 366;

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A query parameter is malformed (not a date, an unknown name): (field, reason).
    #[error("{0}: {1}")]
    Invalid(String, String),
    /// Well-formed parameters that break a rule across them or in time (dates out of order,
    /// a span too long, a name given twice, a month not yet ended): (field, reason).
    #[error("{0}: {1}")]
    Refused(String, String),
    /// ClickHouse refused or could not be reached.
    #[error("clickhouse: {0}")]
    ClickHouse(#[from] clickhouse::error::Error),
    /// The campaign store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The event log failed.
    #[error("event log: {0}")]
    Events(#[from] endcap_events::EventError),
    /// Stored report data could not be read back.
    #[error("stored report data is unreadable: {0}")]
    Corrupt(String),
}

/// A grouping dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dim {
    /// Advertiser id.
    Advertiser,
    /// Campaign id.
    Campaign,
    /// Line item id.
    LineItem,
    /// Day (accounting date for spend, purchase date for sales).
    Day,
    /// `onsite` or `offsite`.
    AdChannel,
    /// `in_store`, `online` or `pickup` (attribution only).
    SalesChannel,
}

impl Dim {
    /// Its name in `group_by` and in column headers.
    pub fn name(self) -> &'static str {
        match self {
            Dim::Advertiser => "advertiser",
            Dim::Campaign => "campaign",
            Dim::LineItem => "line_item",
            Dim::Day => "day",
            Dim::AdChannel => "ad_channel",
            Dim::SalesChannel => "sales_channel",
        }
    }

    const ALL: [Dim; 6] = [
        Dim::Advertiser,
        Dim::Campaign,
        Dim::LineItem,
        Dim::Day,
        Dim::AdChannel,
        Dim::SalesChannel,
    ];
}

/// A parsed report request.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// First day, inclusive (retailer's time zone).
    pub from: NaiveDate,
    /// Last day, inclusive.
    pub to: NaiveDate,
    /// Grouping, in column order (empty: one total row).
    pub group_by: Vec<Dim>,
    /// Only this advertiser (forced for advertiser keys).
    pub advertiser_id: Option<Uuid>,
    /// Only this campaign.
    pub campaign_id: Option<Uuid>,
    /// Attribution model whose results are read.
    pub model: String,
    /// Withhold the figures of groups under the privacy minimum of customers (advertiser
    /// callers; finance and admins reconcile exact figures).
    pub privacy: bool,
}

fn invalid(field: &str, reason: impl Into<String>) -> ReportError {
    ReportError::Invalid(field.to_string(), reason.into())
}

fn refused(field: &str, reason: impl Into<String>) -> ReportError {
    ReportError::Refused(field.to_string(), reason.into())
}

/// An RFC 3339 full-date, exactly `YYYY-MM-DD` (the API document's `format: date`).
fn date(raw: Option<&str>, field: &str) -> Result<NaiveDate, ReportError> {
    let raw = raw.ok_or_else(|| invalid(field, "is required (YYYY-MM-DD)"))?;
    let b = raw.as_bytes();
    let shaped = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    shaped
        .then(|| NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok())
        .flatten()
        .ok_or_else(|| invalid(field, format!("{raw:?} is not a YYYY-MM-DD date")))
}

impl Query {
    /// Parses the query parameters, naming the field at fault.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        group_by: Option<&str>,
        model: Option<&str>,
        advertiser_id: Option<Uuid>,
        campaign_id: Option<Uuid>,
    ) -> Result<Self, ReportError> {
        // What is malformed first (400s), then the rules across well-formed values.
        let from = date(from, "from")?;
        let to = date(to, "to")?;
        // Names separated by commas, exactly; an empty value asks for one total row.
        let group_by = group_by.unwrap_or("campaign");
        let mut dims = Vec::new();
        for name in group_by.split(',').filter(|_| !group_by.is_empty()) {
            let d = Dim::ALL.into_iter().find(|d| d.name() == name).ok_or_else(|| {
                invalid(
                    "group_by",
                    format!("{name:?}: use advertiser, campaign, line_item, day, ad_channel or sales_channel"),
                )
            })?;
            dims.push(d);
        }
        let model = model.unwrap_or("last_touch");
        check_model(model)?;
        if to < from {
            return Err(refused("to", "must not be before from"));
        }
        if (to - from).num_days() >= MAX_DAYS {
            return Err(refused(
                "to",
                format!("a report spans at most {MAX_DAYS} days"),
            ));
        }
        let twice = (1..dims.len()).find(|&i| dims[..i].contains(&dims[i]));
        if let Some(i) = twice {
            let name = dims[i].name();
            return Err(refused("group_by", format!("{name:?} is named twice")));
        }
        Ok(Query {
            from,
            to,
            group_by: dims,
            advertiser_id,
            campaign_id,
            model: model.to_string(),
            privacy: false,
        })
    }

    /// Refuses dimensions a report cannot group by.
    pub fn refuse(&self, dims: &[Dim], report: &str) -> Result<(), ReportError> {
        match self.group_by.iter().find(|d| dims.contains(d)) {
            Some(d) => Err(invalid(
                "group_by",
                format!("{} does not apply to the {report} report", d.name()),
            )),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(r: Result<Query, ReportError>) -> String {
        match r {
            Err(ReportError::Invalid(f, _) | ReportError::Refused(f, _)) => f,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_parameters_are_invalid_and_broken_rules_refused() {
        let p = |f, t, g, m| Query::parse(f, t, g, m, None, None);
        let nov = (Some("2026-11-01"), Some("2026-11-30"));
        for malformed in [
            p(None, nov.1, None, None),
            p(Some("2026-13-01"), nov.1, None, None),
            p(nov.0, nov.1, Some("store"), None),
            p(nov.0, nov.1, Some("day, campaign"), None),
            p(nov.0, nov.1, Some("day,,campaign"), None),
            p(Some(" 2026-11-01"), nov.1, None, None),
            p(Some("2026-11-1"), nov.1, None, None),
            p(nov.0, nov.1, None, Some("magic")),
        ] {
            assert!(
                matches!(malformed, Err(ReportError::Invalid(..))),
                "{malformed:?}"
            );
        }
        for refused in [
            p(Some("2026-11-02"), Some("2026-11-01"), None, None),
            p(Some("2025-01-01"), nov.1, None, None),
            p(nov.0, nov.1, Some("day,day"), None),
        ] {
            assert!(
                matches!(refused, Err(ReportError::Refused(..))),
                "{refused:?}"
            );
        }
    }

    #[test]
    fn every_bad_parameter_is_named() {
        let p = |f, t, g, m| Query::parse(f, t, g, m, None, None);
        assert_eq!(field(p(None, Some("2026-11-01"), None, None)), "from");
        assert_eq!(
            field(p(Some("2026-11-02"), Some("2026-11-01"), None, None)),
            "to"
        );
        assert_eq!(
            field(p(Some("2025-01-01"), Some("2026-11-01"), None, None)),
            "to"
        );
        assert_eq!(
            field(p(
                Some("2026-11-01"),
                Some("2026-11-30"),
                Some("campaign,store"),
                None
            )),
            "group_by"
        );
        assert_eq!(
            field(p(
                Some("2026-11-01"),
                Some("2026-11-30"),
                Some("day,day"),
                None
            )),
            "group_by"
        );
        assert_eq!(
            field(p(
                Some("2026-11-01"),
                Some("2026-11-30"),
                None,
                Some("magic")
            )),
            "model"
        );
        let q = p(
            Some("2026-11-01"),
            Some("2026-11-30"),
            Some("day,campaign"),
            None,
        )
        .unwrap();
        assert_eq!(q.group_by, vec![Dim::Day, Dim::Campaign]);
        assert_eq!(q.model, "last_touch");
        assert_eq!(
            p(Some("2026-11-01"), Some("2026-11-30"), None, None)
                .unwrap()
                .group_by,
            vec![Dim::Campaign],
            "campaign by default"
        );
        assert_eq!(
            field(Ok(q.clone()).and_then(|q: Query| {
                let q = Query {
                    group_by: vec![Dim::SalesChannel],
                    ..q
                };
                q.refuse(&[Dim::SalesChannel], "delivery").map(|_| q)
            })),
            "group_by"
        );
    }
}
