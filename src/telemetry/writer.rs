//! Log lines reach stderr through a bounded queue and one writer thread. Written in place, a
//! reader of stderr that stalls (a full pipe, a stuck log agent) blocked every worker at its
//! next log line, health checks and metrics included; through the queue, lines that do not fit
//! are dropped and counted, and the count is logged once the writer catches up.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Lines held while stderr does not take them (about 5 MB of access lines).
const QUEUE: usize = 16_384;

/// Lines dropped because the queue was full.
static DROPPED: AtomicU64 = AtomicU64::new(0);
/// Lines queued and not written yet.
static PENDING: AtomicU64 = AtomicU64::new(0);

static SENDER: OnceLock<Mutex<SyncSender<Vec<u8>>>> = OnceLock::new();

thread_local! {
    /// Each thread's own handle on the queue (no lock on the way in).
    static LOCAL: Option<SyncSender<Vec<u8>>> =
        sender().lock().ok().map(|tx| tx.clone());
}

fn sender() -> &'static Mutex<SyncSender<Vec<u8>>> {
    SENDER.get_or_init(|| {
        let (tx, rx) = sync_channel(QUEUE);
        let _ = std::thread::Builder::new()
            .name("gatehouse-log".into())
            .spawn(move || drain(rx));
        Mutex::new(tx)
    })
}

fn drain(rx: Receiver<Vec<u8>>) {
    let mut err = std::io::stderr().lock();
    for line in rx {
        let dropped = DROPPED.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            let _ = writeln!(
                err,
                "gatehouse: {dropped} log lines dropped: stderr was not read fast enough"
            );
        }
        let _ = err.write_all(&line);
        PENDING.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The `MakeWriter` of the log: each event is one line, queued when it is complete.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stderr;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Stderr {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line(Vec::with_capacity(256))
    }
}

/// One event's text, queued on drop.
pub struct Line(Vec<u8>);

impl Write for Line {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let line = std::mem::take(&mut self.0);
        let sent = LOCAL.with(|tx| match tx {
            Some(tx) => {
                PENDING.fetch_add(1, Ordering::Relaxed);
                match tx.try_send(line) {
                    Ok(()) => true,
                    Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                        PENDING.fetch_sub(1, Ordering::Relaxed);
                        false
                    }
                }
            }
            None => false,
        });
        if !sent {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Wait (at most `limit`) until the queued lines are written: called before the process exits.
pub fn flush(limit: Duration) {
    let until = Instant::now() + limit;
    while PENDING.load(Ordering::Relaxed) > 0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
}
