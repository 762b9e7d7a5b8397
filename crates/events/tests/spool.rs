//! The sink's limits and the spool's housekeeping, with a writer whose faults the test
//! chooses (a batch ClickHouse refuses forever, a writer that hangs: faults a real server
//! will not produce on demand).

use endcap_events::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn ev(i: u64) -> Event {
    Event::Identity(IdentityLink {
        user_key: format!("{i:064x}"),
        customer_key: "c".repeat(64),
        ts_ms: 1_790_000_000_000,
    })
}

/// Refuses any batch holding the poisoned event while `down` is false... and everything
/// while it is true.
#[derive(Clone)]
struct Picky {
    poison: String,
    down: Arc<AtomicBool>,
    stored: Arc<std::sync::Mutex<Vec<Event>>>,
}

impl BatchWriter for Picky {
    async fn write(&self, batch: &[Event]) -> Result<(), EventError> {
        let poisoned = batch
            .iter()
            .any(|e| matches!(e, Event::Identity(l) if l.user_key == self.poison));
        if self.down.load(Ordering::Relaxed) || poisoned {
            return Err(EventError::Config("refused".into()));
        }
        self.stored.lock().unwrap().extend_from_slice(batch);
        Ok(())
    }
}

fn config() -> SinkConfig {
    SinkConfig {
        queue_capacity: 1_000,
        max_batch: 10,
        max_delay: Duration::from_millis(20),
        replay_interval: Duration::from_millis(30),
        set_aside_after: 3,
        ..SinkConfig::default()
    }
}

async fn until(what: &str, mut ok: impl FnMut() -> bool) {
    for _ in 0..300 {
        if ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("never: {what}");
}

#[tokio::test]
async fn a_spool_file_the_writer_keeps_refusing_is_set_aside_and_the_rest_flows() {
    let dir = tempfile::tempdir().unwrap();
    let down = Arc::new(AtomicBool::new(true));
    let w = Picky {
        poison: format!("{:064x}", 3),
        down: down.clone(),
        stored: Arc::default(),
    };
    let sink = Sink::start(w.clone(), Spool::open(dir.path()).unwrap(), config());
    // While the writer is down: 25 events spool in files of at most 10 (one holds the poison).
    for i in 0..25 {
        sink.send(ev(i));
    }
    sink.flush().await;
    let spool = Spool::open(dir.path()).unwrap();
    assert_eq!(spool.pending().unwrap().len(), 3, "chunked to max_batch");
    // Back up: new events flow; the poisoned file is set aside after its tries; the others
    // are replayed.
    down.store(false, Ordering::Relaxed);
    for i in 100..110 {
        sink.send(ev(i));
    }
    until("the spool drains", || spool.pending().unwrap().is_empty()).await;
    let m = sink.metrics();
    assert_eq!(SinkMetrics::get(&m.failed_spool_files), 1);
    assert_eq!(
        std::fs::read_dir(dir.path().join("failed"))
            .unwrap()
            .count(),
        1
    );
    assert_eq!(
        w.stored.lock().unwrap().len(),
        10 + 15,
        "all but the refused file"
    );
}

#[tokio::test]
async fn past_its_cap_the_spool_drops_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let w = Picky {
        poison: String::new(),
        down: Arc::new(AtomicBool::new(true)),
        stored: Arc::default(),
    };
    let cfg = SinkConfig {
        spool_cap_bytes: 1,
        ..config()
    };
    let sink = Sink::start(w, Spool::open(dir.path()).unwrap(), cfg);
    for i in 0..25 {
        sink.send(ev(i));
    }
    sink.flush().await;
    let m = sink.metrics();
    // The first file fits (the spool was empty); the rest are over the cap.
    assert_eq!(SinkMetrics::get(&m.spooled), 10);
    assert_eq!(SinkMetrics::get(&m.dropped), 15);
}

/// Never finishes a write: the queue backs up.
struct Hung;

impl BatchWriter for Hung {
    async fn write(&self, _: &[Event]) -> Result<(), EventError> {
        std::future::pending::<()>().await;
        Ok(())
    }
}

#[tokio::test]
async fn the_overflow_is_bounded_and_what_it_refuses_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = SinkConfig {
        queue_capacity: 5,
        max_batch: 1,
        max_overflow: 20,
        ..config()
    };
    let sink = Sink::start(Hung, Spool::open(dir.path()).unwrap(), cfg);
    for i in 0..200 {
        sink.send(ev(i));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let m = sink.metrics();
    let dropped = SinkMetrics::get(&m.dropped);
    // At most: one in the writer's hands, the queue, and the overflow; the rest is counted.
    assert!(dropped >= 200 - 1 - 5 - 20, "{dropped}");
    assert!(SinkMetrics::get(&m.overflowed) >= dropped);
}

#[test]
fn a_stale_temporary_file_is_cleaned_at_open_and_a_fresh_one_kept() {
    let dir = tempfile::tempdir().unwrap();
    let stale = dir.path().join(".old.spool.tmp");
    let fresh = dir.path().join(".new.spool.tmp");
    std::fs::write(&stale, b"torn").unwrap();
    std::fs::write(&fresh, b"being written").unwrap();
    let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(7_200);
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    Spool::open(dir.path()).unwrap();
    assert!(!stale.exists());
    assert!(fresh.exists(), "another process may be writing it");
}
