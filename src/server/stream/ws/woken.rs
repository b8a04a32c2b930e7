//! `WhenWoken`: a future or stream a connection polls only after it woke it. A connection's
//! task wakes about ten times a second per subscription for its feeds; polling everything else
//! it waits on at each of those wake-ups (tungstenite's read path, the server's shutdown
//! token, whose waiters all sit behind one lock, the credential's lease) cost more than
//! the wake-up's own work (BENCHMARKS.md "Frames made once").

use futures::{task::AtomicWaker, Stream, StreamExt};
use std::{
    future::Future,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    task::{Context, Poll, Wake, Waker},
};

pub struct WhenWoken<T> {
    inner: T,
    woken: Arc<Woken>,
    /// `woken` as a waker, made once: what `inner` is polled with.
    waker: Waker,
}

struct Woken {
    since_last_poll: AtomicBool,
    task: AtomicWaker,
}

impl Wake for Woken {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.since_last_poll.store(true, Ordering::Release);
        self.task.wake();
    }
}

impl<T> WhenWoken<T> {
    pub fn new(inner: T) -> Self {
        let woken = Arc::new(Woken { since_last_poll: AtomicBool::new(true), task: AtomicWaker::new() });
        WhenWoken { inner, waker: Waker::from(woken.clone()), woken }
    }

    /// Whether `inner` is to be polled: it woke the task since it was last polled (first
    /// registering the task, so that a wake from now on is not lost).
    fn woken(&self, cx: &Context<'_>) -> bool {
        self.woken.task.register(cx.waker());
        self.woken.since_last_poll.swap(false, Ordering::AcqRel)
    }
}

impl<F: Future + Unpin> Future for WhenWoken<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        if !this.woken(cx) {
            return Poll::Pending;
        }
        Pin::new(&mut this.inner).poll(&mut Context::from_waker(&this.waker))
    }
}

/// A stream is polled again after each item too: more may be ready without a wake (buffered
/// messages; tungstenite writes a ping's pong at the read after it).
impl<S: Stream + Unpin> Stream for WhenWoken<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = self.get_mut();
        if !this.woken(cx) {
            return Poll::Pending;
        }
        let next = this.inner.poll_next_unpin(&mut Context::from_waker(&this.waker));
        if next.is_ready() {
            this.woken.since_last_poll.store(true, Ordering::Release);
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    #[tokio::test]
    async fn polls_its_inner_future_only_after_a_wake() {
        let polls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (tell, told) = tokio::sync::oneshot::channel::<u8>();
        let counted = {
            let polls = polls.clone();
            let mut told = told;
            std::future::poll_fn(move |cx| {
                polls.fetch_add(1, Ordering::Relaxed);
                Pin::new(&mut told).poll(cx)
            })
        };
        let mut waiting = WhenWoken::new(Box::pin(counted));
        assert!((&mut waiting).now_or_never().is_none(), "first poll: pending");
        for _ in 0..5 {
            assert!((&mut waiting).now_or_never().is_none());
        }
        assert_eq!(polls.load(Ordering::Relaxed), 1, "not polled again without a wake");
        tell.send(7).unwrap();
        assert_eq!((&mut waiting).await.unwrap(), 7);
        assert_eq!(polls.load(Ordering::Relaxed), 2);
    }
}
