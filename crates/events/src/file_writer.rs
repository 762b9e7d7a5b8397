//! The embedded default: append-only NDJSON files, one per table.

use crate::{BatchWriter, Event, EventError};
use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::PathBuf;

/// Appends each event as a JSON line to `<dir>/<table>.ndjson`, fsync'd per batch.
#[derive(Debug, Clone)]
pub struct FileWriter {
    dir: PathBuf,
}

impl FileWriter {
    /// A writer into `dir` (created when missing).
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, EventError> {
        let dir = dir.into();
        fs::create_dir_all(&dir)?;
        Ok(Self { dir })
    }

    /// The file a table's events go to.
    pub fn path(&self, table: crate::Table) -> PathBuf {
        self.dir.join(format!("{}.ndjson", table.name()))
    }
}

impl BatchWriter for FileWriter {
    async fn write(&self, batch: &[Event]) -> Result<(), EventError> {
        let mut by_table: BTreeMap<crate::Table, Vec<u8>> = BTreeMap::new();
        for e in batch {
            let buf = by_table.entry(e.table()).or_default();
            serde_json::to_writer(&mut *buf, e)?;
            buf.push(b'\n');
        }
        let dir = self.clone();
        // Blocking file I/O stays off the async workers.
        tokio::task::spawn_blocking(move || -> Result<(), EventError> {
            for (table, bytes) in by_table {
                let mut f = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.path(table))?;
                f.write_all(&bytes)?;
                f.sync_data()?;
            }
            Ok(())
        })
        .await
        .map_err(|e| EventError::Io(std::io::Error::other(e)))?
    }
}

/// Reads every event a [`FileWriter`] appended to `table` in `dir` (a missing file is an empty
/// table; a torn last line, from a crash mid-append, is skipped with a warning).
pub fn read_table(dir: &std::path::Path, table: crate::Table) -> Result<Vec<Event>, EventError> {
    let path = dir.join(format!("{}.ndjson", table.name()));
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        match serde_json::from_str(line) {
            Ok(ev) => out.push(ev),
            Err(e) => {
                tracing::warn!(file = %path.display(), line = i + 1, error = %e, "skipping unreadable event line")
            }
        }
    }
    Ok(out)
}
