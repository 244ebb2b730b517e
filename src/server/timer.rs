//! The timer behind hyper's HTTP/1 header-read timeout: a deadline list per thread.
//!
//! hyper arms that timeout whenever a connection waits for a request head and drops it as soon
//! as the head is read: on a keep-alive connection, once per request. On tokio's timer
//! (hyper-util's `TokioTimer`) each of those is a timer-wheel entry registered and removed again,
//! ~1,350 instructions per proxied request (callgrind), 3.5 % of the whole. Here a sleep is a slot
//! in its thread's list (deadline and waker), and one task per thread, running only while the
//! list is not empty, sleeps until the earliest deadline and wakes what is due. A deadline fires
//! no earlier than asked, and as late as one scheduling of that task. The proxy's upstream
//! response timeout ([`within`]) uses the same lists.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use slab::Slab;

/// hyper's [`hyper::rt::Timer`] on per-thread deadline lists.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeadlineTimer;

thread_local! {
    static LIST: Arc<Shared> = Arc::new(Shared::default());
}

impl hyper::rt::Timer for DeadlineTimer {
    fn sleep(&self, duration: std::time::Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep_until(Instant::now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(Deadline::at(deadline))
    }
}

#[derive(Default)]
struct Shared {
    list: Mutex<List>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, List> {
        // Nothing in the list can be left half-updated by a panic: keep going.
        self.list.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Default)]
struct List {
    slots: Slab<Slot>,
    /// `Some` while the list's task runs: when it will next look, and its waker.
    ticker: Option<Ticker>,
    /// Numbers the list's tasks (a dropped one must not unregister its successor).
    tickers: u64,
}

struct Slot {
    deadline: Instant,
    waker: Option<Waker>,
    fired: bool,
}

struct Ticker {
    id: u64,
    at: Instant,
    waker: Option<Waker>,
}

/// `fut`, or `None` once `limit` has passed: `tokio::time::timeout` on the thread's deadline
/// list (the proxy's upstream response timeout, armed once per forwarded request).
pub fn within<F: Future>(limit: std::time::Duration, fut: F) -> Within<F> {
    Within {
        fut,
        deadline: Deadline::at(Instant::now() + limit),
    }
}

pin_project_lite::pin_project! {
    /// The future of [`within`] (a named type: an `async fn` would copy `fut` twice).
    pub struct Within<F> {
        #[pin]
        fut: F,
        deadline: Deadline,
    }
}

impl<F: Future> Future for Within<F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        let this = self.project();
        if let Poll::Ready(out) = this.fut.poll(cx) {
            return Poll::Ready(Some(out));
        }
        Pin::new(this.deadline).poll(cx).map(|()| None)
    }
}

/// One armed deadline; its slot is taken on the first poll and given back when dropped.
struct Deadline {
    shared: Arc<Shared>,
    deadline: Instant,
    slot: Option<usize>,
}

impl Deadline {
    /// A deadline on this thread's list (a slot is taken only if it is polled).
    fn at(deadline: Instant) -> Deadline {
        Deadline {
            shared: LIST.with(Arc::clone),
            deadline,
            slot: None,
        }
    }
}

impl Future for Deadline {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let mut list = this.shared.lock();
        if let Some(key) = this.slot {
            let slot = &mut list.slots[key];
            if slot.fired {
                return Poll::Ready(());
            }
            if !slot.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                slot.waker = Some(cx.waker().clone());
            }
            return Poll::Pending;
        }
        this.slot = Some(list.slots.insert(Slot {
            deadline: this.deadline,
            waker: Some(cx.waker().clone()),
            fired: false,
        }));
        match &mut list.ticker {
            Some(ticker) if ticker.at <= this.deadline => {}
            // Earlier than the task's next look: it looks again now.
            Some(ticker) => {
                ticker.at = this.deadline;
                if let Some(w) = ticker.waker.take() {
                    w.wake();
                }
            }
            None => {
                list.tickers += 1;
                let id = list.tickers;
                list.ticker = Some(Ticker {
                    id,
                    at: this.deadline,
                    waker: None,
                });
                drop(list);
                tokio::spawn(tick(Running(this.shared.clone(), id)));
            }
        }
        Poll::Pending
    }
}

impl hyper::rt::Sleep for Deadline {}

impl Drop for Deadline {
    fn drop(&mut self) {
        if let Some(key) = self.slot {
            let mut list = self.shared.lock();
            list.slots.try_remove(key);
        }
    }
}

/// The list's task, as its list knows it. However the task ends (even dropped unpolled with its
/// runtime), the list learns it is gone and the next deadline starts another.
struct Running(Arc<Shared>, u64);

impl Drop for Running {
    fn drop(&mut self) {
        let mut list = self.0.lock();
        if list.ticker.as_ref().is_some_and(|t| t.id == self.1) {
            list.ticker = None;
        }
    }
}

/// The list's task: fire what is due, sleep until the earliest deadline left (or until an
/// earlier one is armed), end when the list is empty.
async fn tick(running: Running) {
    let (shared, id) = (&running.0, running.1);
    let sleep = tokio::time::sleep_until(Instant::now().into());
    tokio::pin!(sleep);
    loop {
        let next = {
            let mut list = shared.lock();
            if list.ticker.as_ref().is_none_or(|t| t.id != id) {
                return;
            }
            let now = Instant::now();
            let mut next: Option<Instant> = None;
            for (_, slot) in list.slots.iter_mut().filter(|(_, s)| !s.fired) {
                if slot.deadline <= now {
                    slot.fired = true;
                    if let Some(w) = slot.waker.take() {
                        w.wake();
                    }
                } else {
                    next = Some(next.map_or(slot.deadline, |n| n.min(slot.deadline)));
                }
            }
            let Some(next) = next else {
                // Under the same lock as the scan: a deadline armed after it starts a new task.
                list.ticker = None;
                return;
            };
            if let Some(ticker) = &mut list.ticker {
                ticker.at = next;
            }
            next
        };
        sleep.as_mut().reset(next.into());
        std::future::poll_fn(|cx| {
            if sleep.as_mut().poll(cx).is_ready() {
                return Poll::Ready(());
            }
            let mut list = shared.lock();
            match &mut list.ticker {
                // An earlier deadline was armed since: look now.
                Some(ticker) if ticker.at < next => Poll::Ready(()),
                Some(ticker) => {
                    ticker.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
                None => Poll::Ready(()),
            }
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use hyper::rt::Timer;

    use super::*;

    fn pending<F: Future + Unpin>(f: &mut F) -> bool {
        let waker = Waker::noop();
        Pin::new(f)
            .poll(&mut Context::from_waker(waker))
            .is_pending()
    }

    #[tokio::test(flavor = "current_thread")]
    async fn fires_at_the_deadline_not_before() {
        let start = Instant::now();
        DeadlineTimer.sleep(Duration::from_millis(300)).await;
        assert!(start.elapsed() >= Duration::from_millis(300));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn within_answers_or_gives_up() {
        let quick = within(Duration::from_secs(5), async { 7 }).await;
        assert_eq!(quick, Some(7));
        let start = Instant::now();
        let slow = within(Duration::from_millis(100), std::future::pending::<()>()).await;
        assert_eq!(slow, None);
        assert!(start.elapsed() >= Duration::from_millis(100));
        // A future that finishes first takes its deadline out of the list.
        let late = within(
            Duration::from_secs(30),
            tokio::time::sleep(Duration::from_millis(20)),
        )
        .await;
        assert_eq!(late, Some(()));
        assert_eq!(LIST.with(Arc::clone).lock().slots.len(), 0);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_earlier_deadline_armed_later_fires_first() {
        let long = tokio::spawn(DeadlineTimer.sleep(Duration::from_secs(30)));
        tokio::task::yield_now().await;
        let start = Instant::now();
        DeadlineTimer.sleep(Duration::from_millis(50)).await;
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(50) && took < Duration::from_secs(5),
            "{took:?}"
        );
        assert!(!long.is_finished());
        long.abort();
    }

    #[test]
    fn a_list_whose_task_died_with_its_runtime_starts_another() {
        let runtime = || {
            tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("runtime")
        };
        let first = runtime();
        first.block_on(async {
            let mut armed = DeadlineTimer.sleep(Duration::from_secs(30));
            // Spawns the list's task; it has not run yet when the runtime goes.
            assert!(pending(&mut armed));
        });
        drop(first);
        assert!(LIST.with(Arc::clone).lock().ticker.is_none());
        runtime().block_on(async {
            tokio::time::timeout(
                Duration::from_secs(5),
                DeadlineTimer.sleep(Duration::from_millis(10)),
            )
            .await
            .expect("a deadline armed on the next runtime never fired");
        });
    }

    #[tokio::test(flavor = "current_thread")]
    async fn dropped_deadlines_leave_the_list_and_the_task_ends() {
        let mut armed: Vec<_> = (0..10)
            .map(|i| DeadlineTimer.sleep(Duration::from_millis(20 + i)))
            .collect();
        for s in &mut armed {
            assert!(pending(s));
        }
        let shared = LIST.with(Arc::clone);
        assert_eq!(shared.lock().slots.len(), 10);
        drop(armed);
        assert_eq!(shared.lock().slots.len(), 0);
        // The task finds nothing to wait for and ends.
        tokio::time::timeout(Duration::from_secs(5), async {
            while shared.lock().ticker.is_some() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the list's task still runs");
        // A new deadline starts it again.
        tokio::time::timeout(
            Duration::from_secs(5),
            DeadlineTimer.sleep(Duration::from_millis(10)),
        )
        .await
        .expect("fired");
    }
}
