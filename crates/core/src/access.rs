//! Who may do what: the API's roles and the tenant rule.

use crate::{AdvertiserId, ApiKeyId};
use serde::{Deserialize, Serialize};

/// What an API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The retailer's operators: everything.
    Admin,
    /// A brand or agency: only its own advertiser's objects.
    Advertiser,
    /// Finance: read-only, every advertiser, reports.
    Finance,
}

impl Role {
    /// The stored/text form.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Advertiser => "advertiser",
            Role::Finance => "finance",
        }
    }

    /// Parses the stored/text form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Role::Admin),
            "advertiser" => Some(Role::Advertiser),
            "finance" => Some(Role::Finance),
            _ => None,
        }
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Which key authenticated (recorded in the audit log).
    pub key_id: ApiKeyId,
    /// Its role.
    pub role: Role,
    /// The advertiser an `advertiser` key is bound to.
    pub advertiser_id: Option<AdvertiserId>,
}

impl Principal {
    /// Whether the caller may see objects owned by `owner`. A `false` must answer 404, so
    /// that one advertiser cannot even learn that another's ids exist.
    pub fn can_read(&self, owner: AdvertiserId) -> bool {
        match self.role {
            Role::Admin | Role::Finance => true,
            Role::Advertiser => self.advertiser_id == Some(owner),
        }
    }

    /// Whether the caller may change objects owned by `owner`.
    pub fn can_write(&self, owner: AdvertiserId) -> bool {
        match self.role {
            Role::Admin => true,
            Role::Finance => false,
            Role::Advertiser => self.advertiser_id == Some(owner),
        }
    }

    /// Whether the caller may act across advertisers (create advertisers, admin keys).
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// The advertiser a listing must be restricted to, if any.
    pub fn tenant(&self) -> Option<AdvertiserId> {
        match self.role {
            Role::Advertiser => self.advertiser_id,
            Role::Admin | Role::Finance => None,
        }
    }

    /// A stable label for the audit log.
    pub fn actor(&self) -> String {
        format!("{}:{}", self.role.as_str(), self.key_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(role: Role, adv: Option<AdvertiserId>) -> Principal {
        Principal {
            key_id: ApiKeyId::generate(),
            role,
            advertiser_id: adv,
        }
    }

    #[test]
    fn advertisers_see_only_their_own_objects() {
        let mine = AdvertiserId::generate();
        let theirs = AdvertiserId::generate();
        let adv = p(Role::Advertiser, Some(mine));
        assert!(adv.can_read(mine) && adv.can_write(mine));
        assert!(!adv.can_read(theirs) && !adv.can_write(theirs));
    }

    #[test]
    fn finance_reads_everything_and_writes_nothing() {
        let fin = p(Role::Finance, None);
        let any = AdvertiserId::generate();
        assert!(fin.can_read(any));
        assert!(!fin.can_write(any));
        assert!(!fin.is_admin());
    }

    #[test]
    fn an_advertiser_key_without_an_advertiser_sees_nothing() {
        let broken = p(Role::Advertiser, None);
        assert!(!broken.can_read(AdvertiserId::generate()));
    }
}
