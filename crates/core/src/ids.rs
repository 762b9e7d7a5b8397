//! Typed ids: UUID v7 (time ordered, so ids double as a stable pagination key).

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        #[serde(transparent)]
        #[schema(value_type = String, format = Uuid)]
        pub struct $name(uuid::Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn generate() -> Self {
                Self(uuid::Uuid::now_v7())
            }

            /// Parses an id from its text form; `None` when it is not a UUID.
            pub fn parse(s: &str) -> Option<Self> {
                uuid::Uuid::parse_str(s).ok().map(Self)
            }

            /// Wraps a UUID read from a trusted source (a signed token, an event row).
            pub fn from_uuid(u: uuid::Uuid) -> Self {
                Self(u)
            }

            /// The underlying UUID.
            pub fn as_uuid(&self) -> uuid::Uuid {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                uuid::Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// Identifies an advertiser (a brand or agency account).
    AdvertiserId
);
id_type!(
    /// Identifies a campaign.
    CampaignId
);
id_type!(
    /// Identifies a line item inside a campaign.
    LineItemId
);
id_type!(
    /// Identifies a creative attached to a line item.
    CreativeId
);
id_type!(
    /// Identifies an API key (never the key itself).
    ApiKeyId
);

/// A UUIDv7 for now, for the ids the request path makes (decisions, requests): the
/// millisecond timestamp, then 74 bits from the thread's fast generator. `Uuid::now_v7`
/// asks the OS for its random bits (a `getrandom` syscall per id, several per decision) and
/// keeps ids in creation order within a millisecond, which only stored objects need (their
/// ids are the pagination key: `generate` keeps it); these need to be unique, not ordered
/// within a millisecond nor secret (every token that carries one is signed).
pub fn v7_now() -> uuid::Uuid {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut random = [0u8; 10];
    fastrand::fill(&mut random);
    uuid::Builder::from_unix_timestamp_millis(ms, &random).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text() {
        let id = CampaignId::generate();
        assert_eq!(CampaignId::parse(&id.to_string()), Some(id));
        assert_eq!(CampaignId::parse("not-a-uuid"), None);
    }

    #[test]
    fn a_fast_v7_is_a_v7_of_now_and_unique() {
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let ids: std::collections::HashSet<uuid::Uuid> = (0..10_000).map(|_| v7_now()).collect();
        assert_eq!(ids.len(), 10_000);
        let id = v7_now();
        assert_eq!(id.get_version_num(), 7);
        assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
        let (secs, nanos) = id.get_timestamp().unwrap().to_unix();
        let ms = secs * 1000 + u64::from(nanos) / 1_000_000;
        assert!(ms >= before && ms < before + 5_000, "{ms} vs {before}");
    }

    #[test]
    fn later_ids_sort_after_earlier_ones() {
        let a = LineItemId::generate();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = LineItemId::generate();
        assert!(a < b);
    }
}
id_type!(
    /// Identifies one decision: an ad placed in a slot (or a holdout ghost). Its impression,
    /// click and charges refer back to it.
    DecisionId
);
