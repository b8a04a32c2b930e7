//! The direct path: a dashboard's update written to every caught-up WebSocket by a few writer
//! tasks (`Group`s, one per fan-out worker and dashboard), each looping over its share of the
//! sockets as the bare write floor does (`bin/write_floor.rs`), with no task woken per socket.
//!
//! A connection's unthrottled subscription joins a group after its start (snapshot or replay):
//! the connection writes the start itself, the group continues from the seq after it. A frame
//! goes straight into the socket only while the connection's own task is not writing (the
//! `Outbox`'s `writing`, decided under its lock, so the two never interleave inside a frame);
//! otherwise, or when the socket takes only part of it, the frame is handed to the connection's
//! task, which writes it after its own, under its write deadline. A subscription the group
//! cannot serve in order (more than `HANDED_FRAMES` waiting, a gap, its group fell behind the
//! live channel or the channel was replaced) is given back to the connection, which reopens
//! its feed at the seq the client holds: resuming when it is at most `HANDED_FRAMES` behind,
//! else with its backlog coalesced into one snapshot (PROTOCOL.md rule 4; `Feed::open_behind`).

use crate::server::{broker::Frame, telemetry::Telemetry};
use futures::task::AtomicWaker;
use smallvec::SmallVec;
use std::{
    collections::HashMap,
    io::{self, IoSlice},
    os::fd::{AsRawFd, BorrowedFd, RawFd},
    pin::Pin,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    task::{ready, Context, Poll},
};
use tokio::{
    io::AsyncWrite,
    net::tcp::OwnedWriteHalf,
    runtime::Handle,
    sync::{
        broadcast::{self, error::RecvError, error::TryRecvError},
        Notify,
    },
};

use super::writer::Batch;

/// Frames a group hands one connection's task at most (its socket full, or its task writing);
/// past that the subscription goes back to its feed.
pub(super) const HANDED_FRAMES: usize = 64;

/// A connection's socket, shared by its own task and the groups writing its subscriptions.
pub struct Outbox {
    socket: OwnedWriteHalf,
    /// `socket`'s descriptor, kept beside the lock: the groups' `send` reads no other line.
    fd: RawFd,
    state: Mutex<OutboxState>,
    /// Set with `state` when the connection's task has something to take (`sync`).
    news: AtomicBool,
    task: AtomicWaker,
}

#[derive(Default)]
struct OutboxState {
    /// The connection's task writes, or has frames queued to: groups hand their frames over.
    writing: bool,
    /// The connection is ending: nothing more is written.
    closed: bool,
    /// Frames for the connection's task to write, in order; `handed_offset` bytes of the
    /// first are on the wire already (a group's write the socket took only part of).
    handed: Vec<Frame>,
    handed_offset: usize,
    /// The subscriptions groups serve, by id: inline, so a group's check at each write reads
    /// no memory beside the lock's (a connection rarely has more than two).
    joined: SmallVec<[u64; 2]>,
    /// Subscriptions given back: the id, and the seq the client holds.
    returned: Vec<(u64, u64)>,
}

impl Outbox {
    pub fn new(socket: OwnedWriteHalf) -> Arc<Outbox> {
        let fd = socket.as_ref().as_raw_fd();
        Arc::new(Outbox { socket, fd, state: Mutex::default(), news: AtomicBool::new(false), task: AtomicWaker::new() })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, OutboxState> {
        self.state.lock().expect("outbox lock")
    }

    /// Resolves once a group handed frames or gave a subscription back.
    pub async fn ready(&self) {
        std::future::poll_fn(|cx| {
            if self.news.load(Ordering::Acquire) {
                return Poll::Ready(());
            }
            self.task.register(cx.waker());
            if self.news.load(Ordering::Acquire) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }

    /// Takes what the groups handed into the connection's queue (a partly written frame ahead
    /// of everything, whole frames after everything, `next` included) and says whether the
    /// connection writes from now on (groups then hand rather than write); returns the
    /// subscriptions given back, with the seq each client holds.
    pub fn sync(&self, batch: &mut Batch, next: &mut Batch) -> Vec<(u64, u64)> {
        let mut state = self.state();
        self.take_handed(&mut state, batch, next);
        std::mem::take(&mut state.returned)
    }

    /// Ends the direct path for this connection: frames handed so far join the last words.
    /// One lock for both: a group must not start a frame between the taking and the end.
    pub fn close(&self, batch: &mut Batch, next: &mut Batch) {
        let mut state = self.state();
        self.take_handed(&mut state, batch, next);
        state.closed = true;
        state.joined.clear();
    }

    fn take_handed(&self, state: &mut OutboxState, batch: &mut Batch, next: &mut Batch) {
        self.news.store(false, Ordering::Release);
        if !state.handed.is_empty() {
            let handed = std::mem::take(&mut state.handed);
            let offset = std::mem::take(&mut state.handed_offset);
            if offset > 0 {
                // Handed while the connection was not writing: its queue has not started.
                batch.put_first(handed, offset);
            } else {
                let last = if next.is_empty() { &mut *batch } else { &mut *next };
                handed.into_iter().for_each(|frame| last.push_frame(frame));
            }
        }
        state.writing = !batch.is_empty() || !next.is_empty();
    }

    /// Writes as much of `bytes` as the socket takes now, with one `send` on the descriptor
    /// kept beside the lock. Not tokio's `try_write`: its readiness check reads the socket's
    /// registration, and the descriptor sits in the stream's own allocation, two memory lines
    /// per socket beyond the outbox's (the write path was 8.9% of the server's CPU at 10,000
    /// subscribers with them, 3.3% without). Tokio's readiness may then be stale after a
    /// `WouldBlock` here; the connection's task, which writes through tokio, finds the socket
    /// full on its first try and waits for it.
    fn send(&self, bytes: &[u8]) -> io::Result<usize> {
        // SAFETY: `fd` is `socket`'s, which `self` holds open for as long as it lives.
        #[allow(unsafe_code)]
        let fd = unsafe { BorrowedFd::borrow_raw(self.fd) };
        socket2::SockRef::from(&fd).send(bytes)
    }

    /// The socket as the connection's task writes to it.
    pub fn writer(self: &Arc<Self>) -> OutboxWriter {
        OutboxWriter(self.clone())
    }

    fn wake_task(&self) {
        self.news.store(true, Ordering::Release);
        self.task.wake();
    }
}

/// The connection task's side of the socket (groups write with `Outbox::send`, which takes
/// no waker, so the task's wait for the socket to drain is never taken over).
pub struct OutboxWriter(Arc<Outbox>);

impl AsyncWrite for OutboxWriter {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let socket: &tokio::net::TcpStream = self.0.socket.as_ref();
        loop {
            ready!(socket.poll_write_ready(cx))?;
            match socket.try_write_vectored(bufs) {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
                written => return Poll::Ready(written),
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Every dashboard's groups, on the fan-out runtime.
pub struct Writers {
    groups: Mutex<HashMap<String, Vec<Arc<Group>>>>,
    /// Groups per dashboard: one per fan-out worker, so that every core writes.
    per_dashboard: usize,
    next_id: AtomicU64,
    runtime: Handle,
}

/// A subscription served by a group; leaves it when dropped.
pub struct Joined {
    id: u64,
    group: Arc<Group>,
    outbox: Arc<Outbox>,
}

impl Drop for Joined {
    fn drop(&mut self) {
        self.outbox.state().joined.retain(|id| *id != self.id);
        self.group.leave(self.id);
    }
}

impl Joined {
    pub fn id(&self) -> u64 {
        self.id
    }
}

impl Writers {
    pub fn new(per_dashboard: usize, runtime: Handle) -> Writers {
        Writers { groups: Mutex::default(), per_dashboard: per_dashboard.max(1), next_id: AtomicU64::new(0), runtime }
    }

    /// Joins `outbox`'s subscription to `dashboard` to a group, the client holding `held`;
    /// `live` is the subscription's live channel, read from where its start ended until the
    /// group's own channel carries on.
    pub fn join(
        self: &Arc<Self>,
        outbox: &Arc<Outbox>,
        dashboard: &str,
        live: broadcast::Receiver<Frame>,
        held: u64,
        telemetry: &Arc<Telemetry>,
    ) -> Joined {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        outbox.state().joined.push(id);
        let member = Member { outbox: outbox.clone(), id, held };
        // Joining under the registry's lock: a group forgets itself under it too, when it has
        // neither members nor joiners (`forget`), so no joiner lands in a group that ended.
        let group = {
            let mut groups = self.groups.lock().expect("writers lock");
            let list = groups.entry(dashboard.to_owned()).or_default();
            let group = if list.len() < self.per_dashboard {
                let group = Arc::new(Group {
                    members: Mutex::default(),
                    joining: Mutex::default(),
                    joined: Notify::new(),
                    telemetry: telemetry.clone(),
                });
                list.push(group.clone());
                self.runtime.spawn(group.clone().run(live.resubscribe(), dashboard.to_owned(), Arc::downgrade(self)));
                group
            } else {
                list[id as usize % list.len()].clone()
            };
            group.joining.lock().expect("joining lock").push(Joiner { member, live });
            group
        };
        group.joined.notify_one();
        Joined { id, group, outbox: outbox.clone() }
    }

    /// Subscriptions the groups of `dashboard` serve.
    #[cfg(test)]
    pub fn members(&self, dashboard: &str) -> usize {
        let groups = self.groups.lock().expect("writers lock");
        let list = groups.get(dashboard).map(Vec::as_slice).unwrap_or_default();
        list.iter()
            .map(|group| {
                group.members.lock().expect("members lock").len() + group.joining.lock().expect("joining lock").len()
            })
            .sum()
    }

    /// Forgets `group` unless a subscription is joining it (under the registry's lock, which
    /// `join` holds while it picks a group): whether it was forgotten.
    fn forget(&self, dashboard: &str, group: &Arc<Group>) -> bool {
        let mut groups = self.groups.lock().expect("writers lock");
        if !group.joining.lock().expect("joining lock").is_empty() {
            return false;
        }
        if let Some(list) = groups.get_mut(dashboard) {
            list.retain(|other| !Arc::ptr_eq(other, group));
            if list.is_empty() {
                groups.remove(dashboard);
            }
        }
        true
    }
}

/// A frame as the groups write it: header and payload in one buffer, made once per group, so
/// that each socket costs one plain `write` (a `writev` of the two parts cost more in the
/// kernel, `vfs_writev` 6% of the server's CPU).
struct OnWire<'a> {
    frame: &'a Frame,
    bytes: Vec<u8>,
}

impl<'a> OnWire<'a> {
    fn new(frame: &'a Frame) -> OnWire<'a> {
        OnWire { frame, bytes: [frame.ws_header.as_bytes(), frame.json.as_bytes()].concat() }
    }
}

/// One writer of a dashboard: its share of the subscriptions, written in turn.
struct Group {
    members: Mutex<Vec<Member>>,
    /// Subscriptions to admit, each with the live channel it was reading.
    joining: Mutex<Vec<Joiner>>,
    joined: Notify,
    telemetry: Arc<Telemetry>,
}

struct Member {
    outbox: Arc<Outbox>,
    id: u64,
    /// The seq its client holds.
    held: u64,
}

struct Joiner {
    member: Member,
    live: broadcast::Receiver<Frame>,
}

impl Group {
    /// Writes each frame of `live` to every member until the group has none left (or the
    /// channel ended: every member is given back).
    async fn run(
        self: Arc<Self>,
        mut live: broadcast::Receiver<Frame>,
        dashboard: String,
        writers: std::sync::Weak<Writers>,
    ) {
        loop {
            tokio::select! {
                biased;
                () = self.joined.notified() => self.admit(),
                received = live.recv() => {
                    self.admit();
                    match received {
                        Ok(frame) => self.deliver(&frame),
                        Err(RecvError::Lagged(_)) => self.give_all_back(),
                        Err(RecvError::Closed) => {
                            self.give_all_back();
                            // A new channel needs a new group: only joiners that come after
                            // this may find this one, and they are given back below.
                            let Some(writers) = writers.upgrade() else { return };
                            while !writers.forget(&dashboard, &self) {
                                self.admit();
                                self.give_all_back();
                            }
                            return;
                        }
                    }
                }
            }
            let empty = self.members.lock().expect("members lock").is_empty();
            if empty {
                let Some(writers) = writers.upgrade() else { return };
                if writers.forget(&dashboard, &self) {
                    return;
                }
            }
        }
    }

    /// Takes in the subscriptions joining: each is brought up to date from its own live
    /// channel (what came since its start), then reads the group's.
    fn admit(&self) {
        let joining = std::mem::take(&mut *self.joining.lock().expect("joining lock"));
        if joining.is_empty() {
            return;
        }
        let mut admitted = Vec::with_capacity(joining.len());
        'joiners: for Joiner { mut member, mut live } in joining {
            loop {
                match live.try_recv() {
                    Ok(frame) => {
                        let mut written = 0;
                        let kept = self.write(&mut member, &OnWire::new(&frame), &mut written);
                        self.telemetry.messages_sent.inc_by(written);
                        if !kept {
                            continue 'joiners;
                        }
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Lagged(_) | TryRecvError::Closed) => {
                        give_back(&member);
                        continue 'joiners;
                    }
                }
            }
            admitted.push(member);
        }
        self.members.lock().expect("members lock").extend(admitted);
    }

    /// Writes `frame` to every member, in turn.
    fn deliver(&self, frame: &Frame) {
        let frame = OnWire::new(frame);
        let mut members = self.members.lock().expect("members lock");
        let mut written = 0u64;
        members.retain_mut(|member| self.write(member, &frame, &mut written));
        // Counted once per frame: one shared counter touched per socket would be contended.
        self.telemetry.messages_sent.inc_by(written);
    }

    /// Writes `frame` to `member`'s socket, or hands it to the connection's task, or gives
    /// the subscription back when it cannot continue in order (then `false`: it leaves the
    /// group); counts a whole write.
    fn write(&self, member: &mut Member, OnWire { frame, bytes }: &OnWire<'_>, written: &mut u64) -> bool {
        if !frame.is_snapshot && frame.seq <= member.held {
            return true; // seen on the subscription's own channel already
        }
        let outbox = &*member.outbox;
        let mut state = outbox.state();
        if state.closed || !state.joined.contains(&member.id) {
            return false;
        }
        // A snapshot on the live channel, or a gap: the feed knows how to resync.
        if frame.is_snapshot || frame.seq != member.held + 1 {
            return_member(&mut state, member);
            drop(state);
            outbox.wake_task();
            return false;
        }
        if !state.writing {
            match outbox.send(bytes) {
                Ok(done) if done == bytes.len() => {
                    member.held = frame.seq;
                    *written += 1;
                    return true;
                }
                Ok(done) => state.handed_offset = done,
                // Full, or failed: the connection's task waits for room, or finds the error.
                Err(_) => state.handed_offset = 0,
            }
        } else if state.handed.len() >= HANDED_FRAMES {
            return_member(&mut state, member);
            drop(state);
            outbox.wake_task();
            return false;
        }
        state.handed.push((*frame).clone());
        state.writing = true;
        member.held = frame.seq;
        drop(state);
        outbox.wake_task();
        true
    }

    /// Gives every member back to its connection (the group fell behind, or its channel ended).
    fn give_all_back(&self) {
        for member in self.members.lock().expect("members lock").drain(..) {
            give_back(&member);
        }
    }

    /// Drops subscription `id` now if no frame is being written (otherwise the writing finds
    /// it gone from its outbox).
    fn leave(&self, id: u64) {
        if let Ok(mut members) = self.members.try_lock() {
            members.retain(|member| member.id != id);
        }
        self.joining.lock().expect("joining lock").retain(|joiner| joiner.member.id != id);
    }
}

fn give_back(member: &Member) {
    let mut state = member.outbox.state();
    if state.closed || !state.joined.contains(&member.id) {
        return;
    }
    return_member(&mut state, member);
    drop(state);
    member.outbox.wake_task();
}

fn return_member(state: &mut OutboxState, member: &Member) {
    state.joined.retain(|id| *id != member.id);
    state.returned.push((member.id, member.held));
}
