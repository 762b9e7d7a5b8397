//! The sink: a bounded queue in front of a batching writer task, with the spool behind it.

use crate::{Event, EventError, SinkMetrics, Spool};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Stores a batch of events somewhere durable (ClickHouse, local files).
pub trait BatchWriter: Send + Sync + 'static {
    /// Writes the whole batch, or fails (the batch is then spooled and retried whole).
    fn write(&self, batch: &[Event]) -> impl Future<Output = Result<(), EventError>> + Send;
}

/// Where producers put events. `send` never blocks; an event it cannot queue is parked,
/// and [`Sink::settled`] waits until parked events are on disk before a caller acknowledges.
pub trait EventSink: Send + Sync {
    /// Queues one event.
    fn send(&self, event: Event);
}

/// Events parked while the queue was full, and the sequence number of the last one parked.
#[derive(Default)]
struct Parked {
    events: Vec<Event>,
    seq: u64,
}

/// How the sink batches and retries.
#[derive(Debug, Clone)]
pub struct SinkConfig {
    /// Events held in memory before producers overflow to the spool path.
    pub queue_capacity: usize,
    /// Largest batch handed to the writer.
    pub max_batch: usize,
    /// Longest an event waits in a partial batch.
    pub max_delay: Duration,
    /// How often the spool is retried.
    pub replay_interval: Duration,
    /// Events parked when the queue is full, at most (past it they are dropped and counted:
    /// memory is finite).
    pub max_overflow: usize,
    /// Bytes the spool may hold; a batch past it is dropped, counted and logged.
    pub spool_cap_bytes: u64,
    /// Failed replays of one spool file, while the writer stores other events, before the
    /// file is set aside so it stops blocking the ones behind it.
    pub set_aside_after: u32,
}

impl Default for SinkConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 100_000,
            max_batch: 10_000,
            max_delay: Duration::from_millis(500),
            replay_interval: Duration::from_secs(1),
            max_overflow: 1_000_000,
            spool_cap_bytes: 10 << 30,
            set_aside_after: 5,
        }
    }
}

enum Control {
    Flush(oneshot::Sender<()>),
}

/// A running sink. Cloning shares it.
#[derive(Clone)]
pub struct Sink {
    tx: mpsc::Sender<Event>,
    control: mpsc::Sender<Control>,
    overflow: Arc<Mutex<Parked>>,
    /// Wakes the overflow spooler.
    wake: Arc<tokio::sync::Notify>,
    /// The sequence number up to which parked events are spooled (or counted as dropped).
    settled: tokio::sync::watch::Receiver<u64>,
    metrics: Arc<SinkMetrics>,
    max_overflow: usize,
}

impl EventSink for Sink {
    fn send(&self, event: Event) {
        SinkMetrics::add(&self.metrics.queued, 1);
        if let Err(e) = self.tx.try_send(event) {
            // Queue full (or writer gone): park it for the writer task to spool on its
            // next tick. A mutex push is the cheapest thing that cannot block on I/O.
            SinkMetrics::add(&self.metrics.overflowed, 1);
            let ev = match e {
                mpsc::error::TrySendError::Full(ev) | mpsc::error::TrySendError::Closed(ev) => ev,
            };
            let mut parked = self.overflow.lock().unwrap_or_else(|p| p.into_inner());
            if parked.events.len() >= self.max_overflow {
                drop(parked);
                let n = self
                    .metrics
                    .dropped
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n.is_multiple_of(10_000) {
                    tracing::error!(
                        max_overflow = self.max_overflow,
                        "event queue and overflow full; events dropped"
                    );
                }
                return;
            }
            parked.events.push(ev);
            parked.seq += 1;
            drop(parked);
            self.wake.notify_one();
        }
    }
}

impl Sink {
    /// Starts the writer and replay tasks on the current tokio runtime.
    pub fn start<W: BatchWriter>(writer: W, spool: Spool, config: SinkConfig) -> Sink {
        let (tx, rx) = mpsc::channel(config.queue_capacity.max(1));
        let (control, control_rx) = mpsc::channel(16);
        let metrics = Arc::new(SinkMetrics::default());
        let overflow = Arc::new(Mutex::new(Parked::default()));
        let wake = Arc::new(tokio::sync::Notify::new());
        let (settle, settled) = tokio::sync::watch::channel(0);
        let shared = Arc::new(Shared {
            settle,
            writer,
            spool: Arc::new(spool),
            metrics: metrics.clone(),
            overflow: overflow.clone(),
            replay_lock: tokio::sync::Mutex::new(()),
            wake: wake.clone(),
            config: config.clone(),
            failing: Mutex::new(std::collections::HashMap::new()),
        });
        tokio::spawn(writer_loop(shared.clone(), rx, control_rx, config.clone()));
        tokio::spawn(overflow_loop(shared.clone(), wake.clone()));
        tokio::spawn(replay_loop(shared, config.replay_interval));
        Sink {
            tx,
            control,
            overflow,
            wake,
            settled,
            metrics,
            max_overflow: config.max_overflow.max(1),
        }
    }

    /// The sink's counters.
    pub fn metrics(&self) -> &Arc<SinkMetrics> {
        &self.metrics
    }

    /// Waits until every event parked so far (the queue was full) is spooled to disk (or
    /// counted as dropped, past the overflow's or the spool's cap), so the in-memory part of
    /// what a caller acknowledges stays bounded by the queue. Events in the queue itself (up
    /// to `queue_capacity`) are in memory until the writer stores them: a graceful stop
    /// flushes them, a crash loses them. Returns at once when nothing is parked, which is
    /// always the case unless the writer has fallen behind.
    pub async fn settled(&self) {
        let parked = self.overflow.lock().unwrap_or_else(|p| p.into_inner()).seq;
        let mut rx = self.settled.clone();
        if *rx.borrow() >= parked {
            return;
        }
        // The spooler ends only when the sink does; then there is nothing left to wait for.
        let _ = rx.wait_for(|done| *done >= parked).await;
    }

    /// Writes (or spools) everything queued so far, and waits for it.
    pub async fn flush(&self) {
        let (ack, done) = oneshot::channel();
        if self.control.send(Control::Flush(ack)).await.is_ok() {
            let _ = done.await;
        }
    }
}

struct Shared<W> {
    writer: W,
    spool: Arc<Spool>,
    config: SinkConfig,
    /// Spool files whose replay failed, and how often.
    failing: Mutex<std::collections::HashMap<std::path::PathBuf, u32>>,
    metrics: Arc<SinkMetrics>,
    overflow: Arc<Mutex<Parked>>,
    /// Publishes the parked sequence number handled so far.
    settle: tokio::sync::watch::Sender<u64>,
    /// Keeps two replay passes (the timer's and a slow previous one) from interleaving.
    replay_lock: tokio::sync::Mutex<()>,
    /// Wakes the spooler (the one task that takes parked events while the sink runs).
    wake: Arc<tokio::sync::Notify>,
}

impl<W: BatchWriter> Shared<W> {
    /// Hands a batch to the writer; on failure spools it. Never loses it unless the disk
    /// refuses too.
    async fn deliver(&self, batch: Vec<Event>) {
        if batch.is_empty() {
            return;
        }
        let start = Instant::now();
        match self.writer.write(&batch).await {
            Ok(()) => {
                SinkMetrics::add(&self.metrics.written, batch.len());
                SinkMetrics::add(&self.metrics.write_batches, 1);
                SinkMetrics::add(
                    &self.metrics.write_micros,
                    start.elapsed().as_micros() as usize,
                );
            }
            Err(e) => {
                SinkMetrics::add(&self.metrics.write_errors, 1);
                tracing::warn!(error = %e, events = batch.len(), "event write failed; spooling");
                self.spool_batch(batch).await;
            }
        }
    }

    /// Writes a batch to the spool in files of at most `max_batch` events (what one replay
    /// write takes), off the async workers (fsync blocks); past the spool's cap the events
    /// are dropped, counted and logged.
    async fn spool_batch(&self, batch: Vec<Event>) {
        let size = self.config.max_batch.max(1);
        let mut rest = batch;
        while !rest.is_empty() {
            let tail = rest.split_off(rest.len().min(size));
            let chunk = std::mem::replace(&mut rest, tail);
            let n = chunk.len();
            let spool = self.spool.clone();
            let cap = self.config.spool_cap_bytes;
            let written = tokio::task::spawn_blocking(move || {
                if spool.size_bytes()? >= cap {
                    return Err(std::io::Error::other(format!(
                        "the spool holds {cap} bytes or more (its cap)"
                    )));
                }
                spool.write(&chunk)
            })
            .await
            .map_err(std::io::Error::other)
            .and_then(|r| r);
            match written {
                Ok(path) => {
                    SinkMetrics::add(&self.metrics.spooled, n);
                    tracing::debug!(events = n, file = %path.display(), "spooled");
                }
                Err(e) => {
                    SinkMetrics::add(&self.metrics.dropped, n);
                    tracing::error!(error = %e, events = n, "spool write failed; events lost");
                }
            }
        }
    }

    /// Takes the parked events and the sequence number they reach.
    fn take_overflow(&self) -> (Vec<Event>, u64) {
        let mut p = self.overflow.lock().unwrap_or_else(|p| p.into_inner());
        (std::mem::take(&mut p.events), p.seq)
    }

    /// Tells waiting callers that parked events up to `seq` are handled.
    fn settle(&self, seq: u64) {
        self.settle.send_if_modified(|done| {
            let moved = seq > *done;
            *done = (*done).max(seq);
            moved
        });
    }

    /// Replays spooled batches oldest first; stops at the first failure.
    async fn replay(&self) {
        let _guard = self.replay_lock.lock().await;
        let files = match self.spool.pending() {
            Ok(f) => f,
            Err(e) => {
                tracing::error!(error = %e, "cannot list the spool");
                return;
            }
        };
        // A file that failed its tries is probed past: if a file behind it is stored, the
        // writer works and that one file is the problem.
        let mut suspect: Option<std::path::PathBuf> = None;
        for path in files {
            let events = match self.spool.read(&path) {
                Ok(ev) => ev,
                // A read that failed for the machine's reasons (file handles, permissions)
                // says nothing about the file: try again on the next pass.
                Err(crate::SpoolError::Io(e)) => {
                    tracing::warn!(error = %e, file = %path.display(), "cannot read spool file; will retry");
                    return;
                }
                Err(e) => {
                    SinkMetrics::add(&self.metrics.corrupt_spool_files, 1);
                    tracing::error!(error = %e, "skipping corrupt spool file");
                    if let Err(e) = self.spool.quarantine(&path) {
                        tracing::error!(error = %e, "cannot move corrupt spool file aside");
                    }
                    continue;
                }
            };
            match self.writer.write(&events).await {
                Ok(()) => {
                    self.replayed(&path, events.len());
                    if let Some(bad) = suspect.take() {
                        // Its failures may all date from an outage that ended between its
                        // try and this one: it is blamed only if the writer, now shown to
                        // work, still refuses it.
                        if !self.retry(&bad).await {
                            self.set_aside(&bad);
                        }
                    }
                }
                Err(e) => {
                    if suspect.is_none() && self.keeps_failing(&path) {
                        suspect = Some(path);
                        continue;
                    }
                    if let Some(bad) = suspect {
                        // The file behind it failed too: the writer is down, which says
                        // nothing about the suspect, so its count starts over.
                        self.forget_failures(&bad);
                    }
                    tracing::debug!(error = %e, "replay paused; writer still failing");
                    return;
                }
            }
        }
    }

    /// Counts a replayed file's events and removes it.
    fn replayed(&self, path: &std::path::Path, events: usize) {
        SinkMetrics::add(&self.metrics.replayed, events);
        self.forget_failures(path);
        if let Err(e) = self.spool.remove(path) {
            // Replaying it again later is harmless: writes are idempotent.
            tracing::error!(error = %e, "cannot remove replayed spool file");
        }
    }

    /// Tries a suspect file once more, right after a later one was stored; false if the
    /// writer still refuses it.
    async fn retry(&self, path: &std::path::Path) -> bool {
        let Ok(events) = self.spool.read(path) else {
            // Unreadable now: the next pass reads, retries or quarantines it.
            return true;
        };
        if self.writer.write(&events).await.is_err() {
            return false;
        }
        self.replayed(path, events.len());
        true
    }

    /// Drops the failure count of a file.
    fn forget_failures(&self, path: &std::path::Path) {
        self.failing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(path);
    }

    /// Counts a failed replay of `path`; true once it has failed its tries.
    fn keeps_failing(&self, path: &std::path::Path) -> bool {
        let mut failing = self.failing.lock().unwrap_or_else(|p| p.into_inner());
        let tries = failing.entry(path.to_path_buf()).or_insert(0);
        *tries += 1;
        *tries >= self.config.set_aside_after.max(1)
    }

    /// Sets aside a file the writer refuses while it stores the ones behind it.
    fn set_aside(&self, path: &std::path::Path) {
        self.forget_failures(path);
        SinkMetrics::add(&self.metrics.failed_spool_files, 1);
        tracing::error!(file = %path.display(),
            "the writer keeps refusing this spool file while storing others; set aside");
        if let Err(e) = self.spool.set_aside(path) {
            tracing::error!(error = %e, "cannot set the spool file aside");
        }
    }
}

/// How often the writer drains the queue. It polls rather than waits on the channel: a
/// waiting receiver makes every `send` on the request path wake it (a syscall and a context
/// switch per event on a loaded worker); a poll costs one timer tick per interval.
const DRAIN_EVERY: Duration = Duration::from_millis(5);

async fn writer_loop<W: BatchWriter>(
    shared: Arc<Shared<W>>,
    mut rx: mpsc::Receiver<Event>,
    mut control: mpsc::Receiver<Control>,
    config: SinkConfig,
) {
    let mut buf: Vec<Event> = Vec::with_capacity(config.max_batch);
    let mut drain = tokio::time::interval(DRAIN_EVERY.min(config.max_delay));
    drain.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = Instant::now();
    loop {
        tokio::select! {
            _ = drain.tick() => {
                let open = take_queued(&shared, &mut rx, &mut buf, config.max_batch).await;
                if !open {
                    shared.deliver(std::mem::take(&mut buf)).await;
                    // Every sender is gone: nobody waits on `settled` any more.
                    let (rest, seq) = shared.take_overflow();
                    shared.deliver(rest).await;
                    shared.settle(seq);
                    return;
                }
                if last.elapsed() >= config.max_delay {
                    shared.deliver(std::mem::take(&mut buf)).await;
                    last = Instant::now();
                }
            }
            Some(Control::Flush(ack)) = control.recv() => {
                take_queued(&shared, &mut rx, &mut buf, config.max_batch).await;
                shared.deliver(std::mem::take(&mut buf)).await;
                last = Instant::now();
                // Parked events are the spooler's alone (two takers could each settle what
                // the other still holds): wake it and wait until it has spooled what is
                // parked now; the replay stores them.
                let parked = shared.overflow.lock().unwrap_or_else(|p| p.into_inner()).seq;
                let mut done = shared.settle.subscribe();
                shared.wake.notify_one();
                let _ = done.wait_for(|d| *d >= parked).await;
                let _ = ack.send(());
            }
        }
    }
}

/// Moves what is queued into `buf`, delivering each full batch; false once every sender is
/// gone and the queue is empty.
async fn take_queued<W: BatchWriter>(
    shared: &Shared<W>,
    rx: &mut mpsc::Receiver<Event>,
    buf: &mut Vec<Event>,
    max_batch: usize,
) -> bool {
    // At most a queue's worth per call: a producer that never lets the queue empty must not
    // keep the writer from its timer and its flush requests.
    for _ in 0..rx.max_capacity() {
        match rx.try_recv() {
            Ok(ev) => {
                buf.push(ev);
                if buf.len() >= max_batch {
                    shared.deliver(std::mem::take(buf)).await;
                }
            }
            Err(mpsc::error::TryRecvError::Empty) => return true,
            Err(mpsc::error::TryRecvError::Disconnected) => return false,
        }
    }
    true
}

/// Spools parked events as soon as they are parked, apart from the writer (which may be
/// busy with a slow write), so callers waiting in [`Sink::settled`] wait only for the disk.
async fn overflow_loop<W: BatchWriter>(shared: Arc<Shared<W>>, wake: Arc<tokio::sync::Notify>) {
    loop {
        // The timeout also ends this task once the sink itself is gone.
        let _ = tokio::time::timeout(Duration::from_secs(1), wake.notified()).await;
        let (over, seq) = shared.take_overflow();
        if !over.is_empty() {
            // The queue was full: these go straight to disk so the backlog drains.
            shared.spool_batch(over).await;
        }
        shared.settle(seq);
        if shared.settle.receiver_count() == 0 {
            return;
        }
    }
}

async fn replay_loop<W: BatchWriter>(shared: Arc<Shared<W>>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        shared.replay().await;
        // Only this task holds it: the writer task ended, nothing new can be spooled.
        if Arc::strong_count(&shared) == 1 {
            return;
        }
    }
}
