//! Extended identifiers (`user.eids`, OpenRTB 2.6; 2.5's `user.ext.eids`): ids such as UID2
//! (`uidapi.com`) or RampID (`liveramp.com`) that the retailer's identity map may link to a
//! customer.

use crate::User;
use serde::Deserialize;

/// Most (source, id) pairs of one request looked at: each may cost a store lookup.
pub const MAX_EIDS: usize = 8;

/// One extended id source and its ids.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Eid {
    /// The source's domain (`uidapi.com`).
    #[serde(default)]
    pub source: String,
    /// The ids from that source.
    #[serde(default)]
    pub uids: Vec<EidUid>,
}

/// One id of an extended id source.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct EidUid {
    /// The id.
    #[serde(default)]
    pub id: String,
    /// Agent type (1 device, 3 person-based).
    #[serde(default)]
    pub atype: Option<u8>,
}

impl User {
    /// The request's (source, id) pairs, in request order, at most [`MAX_EIDS`]: `user.eids`,
    /// or 2.5's `user.ext.eids` when the former is empty (an `ext` of another shape is
    /// ignored, never refused). Sources are lower-cased; empty ones are skipped.
    pub fn eid_pairs(&self) -> Vec<(String, String)> {
        let from_ext: Vec<Eid>;
        let eids: &[Eid] = if self.eids.is_empty() {
            from_ext = self
                .ext
                .as_ref()
                .and_then(|e| e.get("eids"))
                .and_then(|v| serde_json::from_value(v.clone()).ok())
                .unwrap_or_default();
            &from_ext
        } else {
            &self.eids
        };
        eids.iter()
            .flat_map(|e| {
                let source = e.source.trim().to_ascii_lowercase();
                e.uids
                    .iter()
                    .map(move |u| (source.clone(), u.id.trim().to_string()))
            })
            .filter(|(s, id)| !s.is_empty() && !id.is_empty())
            .take(MAX_EIDS)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eids_are_read_from_26_or_25_placements_and_bounded() {
        let u: User = serde_json::from_value(serde_json::json!({
            "eids": [{"source": "UIDapi.com", "uids": [{"id": "tok-1", "atype": 3}, {"id": ""}]},
                     {"source": "liveramp.com", "uids": [{"id": "ramp-1"}]}]
        }))
        .unwrap();
        assert_eq!(
            u.eid_pairs(),
            [
                ("uidapi.com".to_string(), "tok-1".to_string()),
                ("liveramp.com".to_string(), "ramp-1".to_string())
            ]
        );
        let old: User = serde_json::from_value(serde_json::json!({
            "ext": {"eids": [{"source": "liveramp.com", "uids": [{"id": "ramp-2"}]}]}
        }))
        .unwrap();
        assert_eq!(
            old.eid_pairs(),
            [("liveramp.com".to_string(), "ramp-2".to_string())]
        );
        let odd: User =
            serde_json::from_value(serde_json::json!({"ext": {"eids": "not a list"}})).unwrap();
        assert!(odd.eid_pairs().is_empty());
        let many: Vec<serde_json::Value> = (0..20)
            .map(|i| serde_json::json!({"source": "uidapi.com", "uids": [{"id": format!("t{i}")}]}))
            .collect();
        let u: User = serde_json::from_value(serde_json::json!({ "eids": many })).unwrap();
        assert_eq!(u.eid_pairs().len(), MAX_EIDS);
    }
}
