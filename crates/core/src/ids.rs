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
