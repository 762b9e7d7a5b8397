//! The goose load test. Scenarios: `Hello` (GET / of the hello-world baseline),
//! `Decisions` (POST /v1/decisions, search-top with ~50 candidates), `Openrtb`
//! (POST /openrtb2/bid, a 300x250 banner). Pick one with `--scenarios`; see load-tests/run.sh.

use goose::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};

static N: AtomicU64 = AtomicU64::new(0);

/// Distinct users cycled through (ENDCAP_LOAD_USERS, default 10,000, so caches and caps see
/// realistic reuse; the memory test sets 1,000,000).
fn pool() -> u64 {
    static POOL: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *POOL.get_or_init(|| {
        std::env::var("ENDCAP_LOAD_USERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10_000)
    })
}

fn user_key() -> String {
    format!("{:064x}", N.fetch_add(1, Ordering::Relaxed) % pool())
}

async fn hello(user: &mut GooseUser) -> TransactionResult {
    let _ = user.get("/").await?;
    Ok(())
}

async fn decision(user: &mut GooseUser) -> TransactionResult {
    let body = serde_json::json!({
        "user_key": user_key(),
        "placements": [{"id": "search-top", "count": 3}],
        "context": {"keywords": ["milk"], "device": "mobile", "store_id": "store-7"}
    });
    let _ = user.post_json("/v1/decisions", &body).await?;
    Ok(())
}

async fn bid(user: &mut GooseUser) -> TransactionResult {
    let body = serde_json::json!({
        "id": format!("req-{}", N.fetch_add(1, Ordering::Relaxed)),
        "imp": [{"id": "1", "banner": {"w": 300, "h": 250}, "bidfloor": 0.2}],
        "site": {"domain": "news.example"}, "user": {"buyeruid": user_key()}, "tmax": 100
    });
    let _ = user.post_json("/openrtb2/bid", &body).await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), GooseError> {
    GooseAttack::initialize()?
        .register_scenario(scenario!("Hello").register_transaction(transaction!(hello)))
        .register_scenario(scenario!("Decisions").register_transaction(transaction!(decision)))
        .register_scenario(scenario!("Openrtb").register_transaction(transaction!(bid)))
        .execute()
        .await?;
    Ok(())
}
