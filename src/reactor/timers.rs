//! The reactor's timers: an ordered map owned by the driver, fed through a queue.
//!
//! Inserting or removing a timer pushes an operation on a bounded queue instead of locking the
//! map, so a thread arming a timer does not contend with the driver firing others. The driver
//! applies the queued operations before each wait; a full queue is applied on the spot.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::task::Waker;
use core::time::Duration;
use std::time::Instant;

use core::sync::atomic::{AtomicUsize, Ordering};

use concurrent_queue::ConcurrentQueue;

use crate::sync::Mutex;

/// Capacity of the operation queue; beyond it, operations are applied under the lock.
const QUEUED_OPS: usize = 1024;

enum Op {
    Insert(Instant, usize, Waker),
    Remove(Instant, usize),
}

/// The next timer's id, for every `Timers` of the process and of the children it forks: a child's
/// reactor hands out ids above every id its parent's did, so that a timer armed before the fork
/// (its id the parent's reactor's) is never taken for one of the child's (see [`Timers::owns`]).
/// An id only has to be unique: core's atomic, not the models' (`crate::sync`).
static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

pub(super) struct Timers {
    map: Mutex<BTreeMap<(Instant, usize), Waker>>,
    ops: ConcurrentQueue<Op>,
    /// The first id this `Timers` handed out (or will): every one of its ids is at least this.
    first_id: usize,
}

impl Timers {
    pub(super) fn new() -> Self {
        Self {
            map: Mutex::new(BTreeMap::new()),
            ops: ConcurrentQueue::bounded(QUEUED_OPS),
            first_id: NEXT_ID.load(Ordering::Relaxed),
        }
    }

    pub(super) fn insert(&self, when: Instant, waker: &Waker) -> usize {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        self.push(Op::Insert(when, id, waker.clone()));
        id
    }

    /// Whether `id` may be one of this `Timers`' (not a forked parent's reactor's).
    pub(super) fn owns(&self, id: usize) -> bool {
        id >= self.first_id
    }

    /// Timers registered, once the queued operations are applied.
    pub(super) fn len(&self) -> usize {
        self.map.with(|map| {
            self.apply(map);
            map.len()
        })
    }

    pub(super) fn remove(&self, when: Instant, id: usize) {
        self.push(Op::Remove(when, id));
    }

    fn push(&self, op: Op) {
        let mut op = op;
        while let Err(err) = self.ops.push(op) {
            op = err.into_inner();
            // Full: the driver is slow or absent; apply the backlog ourselves so it stays bounded.
            self.map.with(|map| self.apply(map));
        }
    }

    /// Applies queued operations; the map's lock is held.
    fn apply(&self, map: &mut BTreeMap<(Instant, usize), Waker>) {
        while let Ok(op) = self.ops.pop() {
            match op {
                Op::Insert(when, id, waker) => {
                    map.insert((when, id), waker);
                }
                Op::Remove(when, id) => {
                    map.remove(&(when, id));
                }
            }
        }
    }

    pub(super) fn has_pending_ops(&self) -> bool {
        !self.ops.is_empty()
    }

    pub(super) fn has_any(&self) -> bool {
        !self.ops.is_empty() || self.map.with(|map| !map.is_empty())
    }

    /// Wakes every timer due at `now`; returns when the next one is due.
    pub(super) fn fire(&self, now: Instant) -> Option<Instant> {
        let mut due = Vec::new();
        let next = self.map.with(|map| {
            self.apply(map);
            // Most calls find nothing due (a driver fires timers before every wait): no split then.
            match map.keys().next() {
                None => return None,
                Some(&(first, _)) if first > now => return Some(first),
                Some(_) => {}
            }
            // Everything strictly after `now` stays.
            let later = map.split_off(&(now + Duration::from_nanos(1), 0));
            due.extend(core::mem::replace(map, later).into_values());
            map.keys().next().map(|&(when, _)| when)
        });
        for waker in due {
            waker.wake();
        }
        next
    }
}
