//! Holdout groups: a stable slice of users per campaign who never see its ads.

use endcap_core::CampaignId;
use sha2::{Digest, Sha256};

/// The user's bucket, 0..100, for a campaign: stable across requests, replicas and restarts,
/// and independent between campaigns (the campaign id is part of the hash).
pub fn holdout_bucket(user_key: &str, campaign: CampaignId) -> u8 {
    let mut h = Sha256::new();
    h.update(campaign.as_uuid().as_bytes());
    h.update(user_key.as_bytes());
    let d = h.finalize();
    (u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]) % 100) as u8
}

/// Whether the user is held out of the campaign's ads. Unknown users are never held out
/// (they cannot be measured either way).
pub fn in_holdout(user_key: &str, campaign: CampaignId, holdout_percent: u8) -> bool {
    !user_key.is_empty() && holdout_bucket(user_key, campaign) < holdout_percent
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn about_the_configured_share_is_held_out() {
        let c = CampaignId::generate();
        let held = (0..20_000)
            .filter(|i| in_holdout(&format!("user-{i}"), c, 10))
            .count();
        assert!((1_700..2_300).contains(&held), "{held} of 20000 at 10%");
        assert_eq!(
            (0..1000)
                .filter(|i| in_holdout(&format!("u{i}"), c, 0))
                .count(),
            0
        );
    }

    proptest! {
        #[test]
        fn the_bucket_is_stable(user in "[a-f0-9]{64}") {
            let c = CampaignId::parse("01a20eef-d038-7264-9b65-9a07f4112215").unwrap();
            prop_assert_eq!(holdout_bucket(&user, c), holdout_bucket(&user, c));
            prop_assert!(holdout_bucket(&user, c) < 100);
        }
    }
}
