//! Test helpers for this and other crates' tests: a fresh, empty database per test.

use crate::{CampaignStore, Result};

/// Creates a new, uniquely named database on the PostgreSQL server behind `admin_url`
/// (which must name an existing database) and returns a URL for it.
pub async fn fresh_postgres_url(admin_url: &str) -> Result<String> {
    sqlx::any::install_default_drivers();
    let name = format!("endcap_t_{}", uuid::Uuid::now_v7().simple());
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(admin_url).await?;
    sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await?;
    let (base, query) = match admin_url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (admin_url, String::new()),
    };
    let base = base.rsplit_once('/').map_or(base, |(b, _)| b);
    Ok(format!("{base}/{name}{query}"))
}

/// A SQLite URL for a new file under `<temp dir>/endcap-tests/` (scripts/test.sh empties
/// that directory before each run).
pub fn fresh_sqlite_url() -> String {
    let dir = std::env::temp_dir().join("endcap-tests");
    // If the directory cannot be made, opening the database reports the real error.
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("{}.db", uuid::Uuid::now_v7()));
    format!("sqlite://{}", path.display())
}

/// Opens a store on a fresh database of the given kind.
pub async fn fresh_store(postgres_admin_url: Option<&str>) -> Result<CampaignStore> {
    let url = match postgres_admin_url {
        Some(admin) => fresh_postgres_url(admin).await?,
        None => fresh_sqlite_url(),
    };
    CampaignStore::connect(&url).await
}
