//! Requests held while their key is fetched: a bounded queue of context ids, each with the
//! issuer (and, for ALB, the kid) it waits for and the time it must be let go.

use std::collections::VecDeque;

/// One held request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Held {
    /// The HTTP context to resume.
    pub(super) context_id: u32,
    /// Index of the issuer it waits for.
    pub(super) issuer: usize,
    /// The kid it waits for.
    pub(super) kid: String,
    /// When it is let go without its key, milliseconds.
    pub(super) deadline_ms: u64,
}

/// The held requests of one worker, at most `capacity`.
#[derive(Debug)]
pub(super) struct HeldRequests {
    queue: VecDeque<Held>,
    capacity: usize,
}

impl HeldRequests {
    /// An empty queue holding at most `capacity` requests.
    pub(super) fn new(capacity: usize) -> HeldRequests {
        HeldRequests {
            queue: VecDeque::with_capacity(capacity.min(64)),
            capacity,
        }
    }

    /// Number held.
    pub(super) fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether `context_id` is held.
    pub(super) fn contains(&self, context_id: u32) -> bool {
        self.queue.iter().any(|h| h.context_id == context_id)
    }

    /// Holds a request; `false` (and nothing held) when the queue is full.
    pub(super) fn push(&mut self, held: Held) -> bool {
        if self.queue.len() >= self.capacity {
            return false;
        }
        self.queue.push_back(held);
        true
    }

    /// Takes out every request `wanted` selects, in the order they were held.
    pub(super) fn take(&mut self, mut wanted: impl FnMut(&Held) -> bool) -> Vec<Held> {
        let mut taken = Vec::new();
        let mut kept = VecDeque::with_capacity(self.queue.len());
        for held in self.queue.drain(..) {
            if wanted(&held) {
                taken.push(held);
            } else {
                kept.push_back(held);
            }
        }
        self.queue = kept;
        taken
    }
}
