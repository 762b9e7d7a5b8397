//! Data-subject deletion in ClickHouse: every row that holds one of a person's user keys or
//! customer keys, in every table of the database that has such a column (found in
//! `system.columns`, so tables added later are covered too). ClickHouse runs deletions as
//! mutations in the background (18.16 has no synchronous mode); [`rows_of_people`] tells when
//! nothing is left.

use crate::{ClickHouseConfig, EventError};
use clickhouse::Row;
use serde::Deserialize;

#[derive(Row, Deserialize)]
struct Column {
    table: String,
    name: String,
}

/// The MergeTree tables of the database with a `user_key` or `customer_key` column.
async fn keyed_tables(config: &ClickHouseConfig) -> Result<Vec<(String, String)>, EventError> {
    let client = config.client();
    let engines: Vec<(String, String)> = client
        .query("SELECT name, engine FROM system.tables WHERE database = ?")
        .bind(&config.database)
        .fetch_all::<(String, String)>()
        .await?;
    let columns: Vec<Column> = client
        .query(
            "SELECT table, name FROM system.columns WHERE database = ? \
             AND name IN ('user_key', 'customer_key')",
        )
        .bind(&config.database)
        .fetch_all()
        .await?;
    Ok(columns
        .into_iter()
        .filter(|c| {
            engines
                .iter()
                .any(|(t, e)| *t == c.table && e.contains("MergeTree"))
        })
        .map(|c| (c.table, c.name))
        .collect())
}

fn keys_for<'a>(column: &str, users: &'a [String], customers: &'a [String]) -> &'a [String] {
    if column == "user_key" {
        users
    } else {
        customers
    }
}

/// Starts deleting every row of these people; the tables it covers.
pub async fn delete_people(
    config: &ClickHouseConfig,
    user_keys: &[String],
    customer_keys: &[String],
) -> Result<Vec<String>, EventError> {
    let mut covered = Vec::new();
    for (table, column) in keyed_tables(config).await? {
        let keys = keys_for(&column, user_keys, customer_keys);
        if keys.is_empty() {
            continue;
        }
        config
            .client()
            .query(&format!(
                "ALTER TABLE {table} DELETE WHERE has(?, {column})"
            ))
            .bind(keys)
            .execute()
            .await?;
        covered.push(format!("{table}.{column}"));
    }
    Ok(covered)
}

/// Rows that still hold one of these people's keys (0 once the deletions have run).
pub async fn rows_of_people(
    config: &ClickHouseConfig,
    user_keys: &[String],
    customer_keys: &[String],
) -> Result<u64, EventError> {
    let mut n = 0;
    for (table, column) in keyed_tables(config).await? {
        let keys = keys_for(&column, user_keys, customer_keys);
        if keys.is_empty() {
            continue;
        }
        n += config
            .client()
            .query(&format!(
                "SELECT count() FROM {table} WHERE has(?, {column})"
            ))
            .bind(keys)
            .fetch_one::<u64>()
            .await?;
    }
    Ok(n)
}

/// Data-subject deletion in the file event log: removes every line that holds one of these
/// keys (as a whole JSON string, so no key matches inside another), in every table file.
/// Returns the lines removed per table. Events still spooled by another process are written
/// later; the caller flushes its own sink first.
pub fn delete_people_from_files(
    dir: &std::path::Path,
    user_keys: &[String],
    customer_keys: &[String],
) -> Result<Vec<(crate::Table, u64)>, EventError> {
    let needles: Vec<String> = user_keys
        .iter()
        .chain(customer_keys)
        .map(|k| format!("\"{k}\""))
        .collect();
    let mut out = Vec::new();
    if needles.is_empty() {
        return Ok(out);
    }
    for table in crate::Table::ALL {
        let (_, removed) = crate::rewrite_table(dir, table, |line| {
            !needles.iter().any(|n| line.contains(n.as_str()))
        })?;
        out.push((table, removed));
    }
    Ok(out)
}
