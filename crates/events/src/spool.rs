//! The durable disk spool: one file per batch, written to a temporary name, fsync'd, then
//! renamed, so a reader sees either a whole batch or nothing. Each file carries its event
//! count, payload length and CRC-32, so a torn or damaged file is detected, reported and set
//! aside instead of replayed.

use crate::Event;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

const MAGIC: &str = "ENDCAP-SPOOL v1";

/// A `.tmp` file this old was left by a crash, not by a write in progress.
/// Why a spool file could not be replayed.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The file is torn, truncated or damaged.
    #[error("corrupt spool file {path}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The file could not be read.
    #[error("spool io: {0}")]
    Io(#[from] io::Error),
}

/// A directory of spooled batches, replayed oldest first.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    seq: AtomicU64,
    /// Held open with an exclusive lock for as long as this process owns the directory.
    _owner: File,
}

impl Spool {
    /// Opens (creating) the spool directory and takes it for this process: a second
    /// process (or a second open) on the same directory is refused, because two replayers
    /// would store each batch twice.
    pub fn open(dir: impl Into<PathBuf>) -> io::Result<Self> {
        let dir = dir.into();
        fs::create_dir_all(dir.join("corrupt"))?;
        fs::create_dir_all(dir.join("failed"))?;
        let owner = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("LOCK"))?;
        match owner.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    format!(
                        "the spool directory {} belongs to another running process; give each process its own",
                        dir.display()
                    ),
                ))
            }
            Err(fs::TryLockError::Error(e)) => return Err(e),
        }
        // A crash mid-write leaves a `.tmp` file that is never renamed; the directory is
        // ours alone, so every one of them is a leftover.
        for entry in fs::read_dir(&dir)?.flatten() {
            if entry.file_name().to_string_lossy().ends_with(".tmp") {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(Self {
            dir,
            seq: AtomicU64::new(0),
            _owner: owner,
        })
    }

    /// Bytes the pending batch files take.
    pub fn size_bytes(&self) -> io::Result<u64> {
        Ok(self
            .pending()?
            .iter()
            .filter_map(|p| fs::metadata(p).ok())
            .map(|m| m.len())
            .sum())
    }

    /// Moves a batch the writer keeps refusing aside (kept for inspection and a manual
    /// replay, no longer blocking the ones behind it).
    pub fn set_aside(&self, path: &Path) -> io::Result<PathBuf> {
        let name = path
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        let dest = self.dir.join("failed").join(name);
        fs::rename(path, &dest)?;
        Ok(dest)
    }

    /// The spool directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes one batch durably and returns its file.
    pub fn write(&self, events: &[Event]) -> io::Result<PathBuf> {
        let mut payload = Vec::with_capacity(events.len() * 256);
        for e in events {
            serde_json::to_writer(&mut payload, e)?;
            payload.push(b'\n');
        }
        let crc = crc32fast::hash(&payload);
        let now = chrono::Utc::now().timestamp_millis();
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        // Names sort in creation order: time, then a per-process sequence, then a random id
        // so that two processes sharing a directory never collide.
        let name = format!(
            "{now:016}-{seq:010}-{}.spool",
            uuid::Uuid::now_v7().simple()
        );
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let fin = self.dir.join(&name);
        {
            let mut f = File::create(&tmp)?;
            writeln!(f, "{MAGIC} {} {} {crc:08x}", events.len(), payload.len())?;
            f.write_all(&payload)?;
            f.sync_all()?;
        }
        fs::rename(&tmp, &fin)?;
        File::open(&self.dir)?.sync_all()?;
        Ok(fin)
    }

    /// Spooled batch files, oldest first.
    pub fn pending(&self) -> io::Result<Vec<PathBuf>> {
        Self::pending_in(&self.dir)
    }

    /// Batch files waiting in a spool directory, oldest first, read without owning it (a
    /// process watching its own running sink drain, a start-up replay of the ledger).
    pub fn pending_in(dir: &Path) -> io::Result<Vec<PathBuf>> {
        if !dir.exists() {
            return Ok(Vec::new());
        }
        let mut files: Vec<PathBuf> = fs::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "spool"))
            .collect();
        files.sort();
        Ok(files)
    }

    /// Reads and verifies one batch file.
    pub fn read(&self, path: &Path) -> Result<Vec<Event>, SpoolError> {
        Self::read_file(path)
    }

    /// Reads and verifies one batch file, wherever it is (see [`Spool::pending_in`]).
    pub fn read_file(path: &Path) -> Result<Vec<Event>, SpoolError> {
        let corrupt = |reason: &str| SpoolError::Corrupt {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        };
        let mut bytes = Vec::new();
        File::open(path)?.read_to_end(&mut bytes)?;
        let nl = bytes
            .iter()
            .position(|b| *b == b'\n')
            .ok_or_else(|| corrupt("no header line"))?;
        let header =
            std::str::from_utf8(&bytes[..nl]).map_err(|_| corrupt("header is not text"))?;
        let rest = header
            .strip_prefix(MAGIC)
            .ok_or_else(|| corrupt("bad magic"))?;
        let parts: Vec<&str> = rest.split_whitespace().collect();
        let [count, len, crc] = parts.as_slice() else {
            return Err(corrupt("header needs count, length and crc"));
        };
        let count: usize = count.parse().map_err(|_| corrupt("bad count"))?;
        let len: usize = len.parse().map_err(|_| corrupt("bad length"))?;
        let crc = u32::from_str_radix(crc, 16).map_err(|_| corrupt("bad crc"))?;
        let payload = &bytes[nl + 1..];
        if payload.len() != len {
            return Err(corrupt(&format!(
                "payload is {} bytes, header says {len}",
                payload.len()
            )));
        }
        if crc32fast::hash(payload) != crc {
            return Err(corrupt("checksum mismatch"));
        }
        let events = payload
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(serde_json::from_slice::<Event>)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| corrupt(&format!("undecodable event: {e}")))?;
        if events.len() != count {
            return Err(corrupt("event count mismatch"));
        }
        Ok(events)
    }

    /// Removes a replayed batch.
    pub fn remove(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    /// Moves a corrupt file aside (kept for inspection, never replayed).
    pub fn quarantine(&self, path: &Path) -> io::Result<PathBuf> {
        let name = path
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        let dest = self.dir.join("corrupt").join(name);
        fs::rename(path, &dest)?;
        Ok(dest)
    }

    /// Appends raw bytes to a file (tests use it to simulate a torn write).
    #[doc(hidden)]
    pub fn damage(path: &Path, bytes: &[u8]) -> io::Result<()> {
        OpenOptions::new().append(true).open(path)?.write_all(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Event, IdentityLink};

    fn ev(i: i64) -> Event {
        Event::Identity(IdentityLink {
            user_key: format!("u{i}"),
            customer_key: format!("c{i}"),
            ts_ms: i,
        })
    }

    #[test]
    fn a_batch_round_trips_and_files_come_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let s = Spool::open(dir.path()).unwrap();
        let a = s.write(&[ev(1), ev(2)]).unwrap();
        let b = s.write(&[ev(3)]).unwrap();
        assert_eq!(s.pending().unwrap(), vec![a.clone(), b]);
        assert_eq!(s.read(&a).unwrap(), vec![ev(1), ev(2)]);
    }

    #[test]
    fn torn_and_flipped_files_are_reported_as_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let s = Spool::open(dir.path()).unwrap();
        let torn = s.write(&[ev(1), ev(2)]).unwrap();
        let bytes = fs::read(&torn).unwrap();
        fs::write(&torn, &bytes[..bytes.len() - 5]).unwrap();
        assert!(matches!(s.read(&torn), Err(SpoolError::Corrupt { .. })));

        let flipped = s.write(&[ev(3)]).unwrap();
        let mut bytes = fs::read(&flipped).unwrap();
        let last = bytes.len() - 3;
        bytes[last] ^= 0x01;
        fs::write(&flipped, &bytes).unwrap();
        assert!(matches!(s.read(&flipped), Err(SpoolError::Corrupt { .. })));

        fs::write(dir.path().join("0-garbage.spool"), b"hello").unwrap();
        let garbage = dir.path().join("0-garbage.spool");
        assert!(matches!(s.read(&garbage), Err(SpoolError::Corrupt { .. })));
        let moved = s.quarantine(&garbage).unwrap();
        assert!(moved.exists() && !garbage.exists());
    }
}
