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
    let pending = || Spool::pending_in(dir.path()).unwrap();
    assert_eq!(pending().len(), 3, "chunked to max_batch");
    // Back up: new events flow; the poisoned file is set aside after its tries; the others
    // are replayed.
    down.store(false, Ordering::Relaxed);
    for i in 100..110 {
        sink.send(ev(i));
    }
    until("the spool drains", || pending().is_empty()).await;
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

/// Fails its first `fails` writes, then stores everything: a server that comes back up.
#[derive(Clone)]
struct Recovering {
    fails: Arc<std::sync::atomic::AtomicUsize>,
    stored: Arc<std::sync::Mutex<Vec<Event>>>,
}

impl BatchWriter for Recovering {
    async fn write(&self, batch: &[Event]) -> Result<(), EventError> {
        let left = self.fails.load(Ordering::SeqCst);
        if left > 0 {
            self.fails.store(left - 1, Ordering::SeqCst);
            return Err(EventError::Config("connection refused".into()));
        }
        self.stored.lock().unwrap().extend_from_slice(batch);
        Ok(())
    }
}

#[tokio::test]
async fn a_good_file_whose_failures_were_the_outages_is_replayed_not_set_aside() {
    // Two spool files from an outage; no new events arrive, so only replay writes. With
    // `set_aside_after` 3 the replays go: F1, F1, F1 (a suspect: F2 is tried past it), F2
    // (fails: the writer is down, so F1's count starts over), then F1 x3 again, F2 fails,
    // ... The server comes back exactly between a try of F1 and one of F2: before the fix
    // F1 was set aside right there, 10 good events in none of the three places.
    let dir = tempfile::tempdir().unwrap();
    {
        let spool = Spool::open(dir.path()).unwrap();
        spool.write(&(0..10).map(ev).collect::<Vec<_>>()).unwrap();
        spool.write(&(10..20).map(ev).collect::<Vec<_>>()).unwrap();
    }
    let w = Recovering {
        // F1 F1 F1 F2 | F1 (the 5th write fails) F2 (the 6th succeeds).
        fails: Arc::new(std::sync::atomic::AtomicUsize::new(5)),
        stored: Arc::default(),
    };
    let sink = Sink::start(w.clone(), Spool::open(dir.path()).unwrap(), config());
    let pending = || Spool::pending_in(dir.path()).unwrap();
    until("the spool drains", || pending().is_empty()).await;
    let m = sink.metrics();
    assert_eq!(
        SinkMetrics::get(&m.failed_spool_files),
        0,
        "nothing set aside"
    );
    until("all 20 events are stored", || {
        w.stored.lock().unwrap().len() == 20
    })
    .await;
    assert_eq!(SinkMetrics::get(&m.replayed), 20);
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
fn leftover_temporary_files_are_cleaned_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let torn = dir.path().join(".old.spool.tmp");
    std::fs::write(&torn, b"torn").unwrap();
    Spool::open(dir.path()).unwrap();
    assert!(!torn.exists());
}

#[test]
fn a_spool_directory_has_one_owner() {
    let dir = tempfile::tempdir().unwrap();
    let first = Spool::open(dir.path()).unwrap();
    let second = Spool::open(dir.path()).unwrap_err();
    assert_eq!(second.kind(), std::io::ErrorKind::WouldBlock);
    assert!(
        second.to_string().contains("another running process"),
        "{second}"
    );
    drop(first);
    Spool::open(dir.path()).expect("free again once the owner is gone");
}

#[tokio::test]
async fn events_past_a_full_queue_are_on_disk_before_they_are_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = SinkConfig {
        queue_capacity: 5,
        max_batch: 1,
        ..config()
    };
    let sink = Sink::start(Hung, Spool::open(dir.path()).unwrap(), cfg);
    for i in 0..50 {
        sink.send(ev(i));
    }
    sink.settled().await;
    let spooled: usize = Spool::pending_in(dir.path())
        .unwrap()
        .iter()
        .map(|p| Spool::read_file(p).unwrap().len())
        .sum();
    let m = sink.metrics();
    let parked = SinkMetrics::get(&m.overflowed);
    assert!(parked >= 50 - 1 - 5, "{parked}");
    assert_eq!(spooled as u64, parked, "every parked event is in the spool");
    assert_eq!(SinkMetrics::get(&m.dropped), 0);
}

#[tokio::test]
async fn a_file_log_batch_that_fails_half_way_is_cut_back_and_replayed_once() {
    let dir = tempfile::tempdir().unwrap();
    let spool_dir = tempfile::tempdir().unwrap();
    let writer = FileWriter::open(dir.path()).unwrap();
    let (a, b) = (
        ev(1),
        Event::Conversion(ConversionEvent {
            event_id: uuid::Uuid::now_v7(),
            ts_ms: 1_790_000_000_000,
            user_key: "a".repeat(64),
            order_id: "o-1".into(),
            skus: vec!["sku-1".into()],
            amount_micros: 1_000_000,
            currency: "USD".into(),
        }),
    );
    let (first, second) = if a.table() < b.table() {
        (&a, &b)
    } else {
        (&b, &a)
    };
    // The second table's file cannot be opened: the first table's lines must not stay.
    let blocked = writer.path(second.table());
    std::fs::create_dir_all(&blocked).unwrap();
    let sink = Sink::start(
        writer.clone(),
        Spool::open(spool_dir.path()).unwrap(),
        config(),
    );
    sink.send(first.clone());
    sink.send(second.clone());
    sink.flush().await;
    assert_eq!(
        std::fs::read(writer.path(first.table())).unwrap_or_default(),
        b"",
        "the half-written batch was cut back"
    );
    assert_eq!(Spool::pending_in(spool_dir.path()).unwrap().len(), 1);
    // The path frees up; the replay stores the batch, each line once.
    std::fs::remove_dir(&blocked).unwrap();
    until("the spool drains", || {
        Spool::pending_in(spool_dir.path()).unwrap().is_empty()
    })
    .await;
    assert_eq!(read_table(dir.path(), first.table()).unwrap().len(), 1);
    assert_eq!(read_table(dir.path(), second.table()).unwrap().len(), 1);
}

#[tokio::test]
async fn retention_rewrites_the_file_log_without_old_lines() {
    let dir = tempfile::tempdir().unwrap();
    let writer = FileWriter::open(dir.path()).unwrap();
    let now = chrono::Utc::now();
    let link = |days_ago: i64, i: u64| {
        Event::Identity(IdentityLink {
            user_key: format!("{i:064x}"),
            customer_key: "c".repeat(64),
            ts_ms: (now - chrono::Duration::days(days_ago)).timestamp_millis(),
        })
    };
    writer
        .write(&[link(500, 1), link(450, 2), link(10, 3), link(0, 4)])
        .await
        .unwrap();
    let done = enforce_files(dir.path(), &retention_policy(90), now).unwrap();
    let identity = done.iter().find(|d| d.table == "identity_map").unwrap();
    assert_eq!(identity.lines, 2);
    let left = read_table(dir.path(), Table::IdentityMap).unwrap();
    assert_eq!(left, vec![link(10, 3), link(0, 4)]);
    // Appends after the rewrite land in the new file.
    writer.write(&[link(0, 5)]).await.unwrap();
    assert_eq!(read_table(dir.path(), Table::IdentityMap).unwrap().len(), 3);
    // Nothing old left: a second run removes nothing.
    let again = enforce_files(dir.path(), &retention_policy(90), now).unwrap();
    assert!(again.iter().all(|d| d.lines == 0));
}

#[tokio::test]
async fn a_deleted_person_leaves_no_line_in_the_file_log() {
    let dir = tempfile::tempdir().unwrap();
    let writer = FileWriter::open(dir.path()).unwrap();
    let (gone, kept) = (format!("{:064x}", 7), format!("{:064x}", 8));
    let customer = "d".repeat(64);
    writer
        .write(&[
            Event::Identity(IdentityLink {
                user_key: gone.clone(),
                customer_key: customer.clone(),
                ts_ms: 1_790_000_000_000,
            }),
            Event::Identity(IdentityLink {
                user_key: kept.clone(),
                customer_key: "e".repeat(64),
                ts_ms: 1_790_000_000_000,
            }),
            Event::ReceiptHeader(ReceiptHeaderEvent {
                receipt_id: "r-1".into(),
                version: 1,
                line_count: 0,
                customer_key: customer.clone(),
                store_id: "s-1".into(),
                channel: "in_store".into(),
                ts_ms: 1_790_000_000_000,
            }),
        ])
        .await
        .unwrap();
    let removed = delete_people_from_files(
        dir.path(),
        std::slice::from_ref(&gone),
        std::slice::from_ref(&customer),
    )
    .unwrap();
    assert_eq!(removed.iter().map(|(_, n)| n).sum::<u64>(), 2);
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default();
        assert!(!text.contains(&gone) && !text.contains(&customer), "{text}");
    }
    assert!(std::fs::read_to_string(writer.path(Table::IdentityMap))
        .unwrap()
        .contains(&kept));
}

#[tokio::test]
async fn an_append_after_a_torn_line_starts_on_a_line_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let writer = FileWriter::open(dir.path()).unwrap();
    writer.write(&[ev(1)]).await.unwrap();
    // A crash mid-append left half a line.
    let path = writer.path(Table::IdentityMap);
    let mut torn = std::fs::read(&path).unwrap();
    torn.extend_from_slice(br#"{"kind":"identity","user_key":"ab"#);
    std::fs::write(&path, torn).unwrap();
    writer.write(&[ev(2)]).await.unwrap();
    let read = read_table(dir.path(), Table::IdentityMap).unwrap();
    assert_eq!(
        read,
        vec![ev(1), ev(2)],
        "the torn line is skipped, the new one kept"
    );
}
