//! Hybrid logical clock. In: the device's physical clock reading (milliseconds since
//! the Unix epoch, supplied by the caller) and the stamps of ops received from peers.
//! Out: [`Stamp`]s that are totally ordered by (wall, counter, actor) and always later
//! than every stamp the device has seen. So an edit made after seeing another always
//! wins a last-writer-wins register, whatever the physical clocks say; a device whose
//! clock is off only drags the wall component forward, and is never refused.

use crate::op::ActorId;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A point in hybrid logical time, with the device id as final tie-break.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
pub struct Stamp {
    /// Wall component, milliseconds since the Unix epoch (max of physical clocks seen).
    pub wall_ms: u64,
    /// Logical counter for events within the same wall millisecond.
    pub counter: u32,
    /// Device that made the stamp: breaks ties so no two devices' stamps are equal.
    pub actor: ActorId,
}

impl fmt::Display for Stamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}@{}", self.wall_ms, self.counter, self.actor)
    }
}

/// The clock state of one device: the latest wall and counter it issued or observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Hlc {
    /// Latest wall component.
    pub wall_ms: u64,
    /// Counter at that wall component.
    pub counter: u32,
}

impl Hlc {
    /// Issues a new stamp for a local event, strictly later than anything seen so far.
    pub fn tick(&mut self, physical_ms: u64, actor: ActorId) -> Stamp {
        if physical_ms > self.wall_ms {
            self.wall_ms = physical_ms;
            self.counter = 0;
        } else if self.counter == u32::MAX {
            self.wall_ms += 1;
            self.counter = 0;
        } else {
            self.counter += 1;
        }
        Stamp {
            wall_ms: self.wall_ms,
            counter: self.counter,
            actor,
        }
    }

    /// Takes a stamp received from a peer into account, so the next [`Hlc::tick`]
    /// is later than it. Never refuses a stamp, however far ahead it is.
    pub fn observe(&mut self, remote: &Stamp) {
        if (remote.wall_ms, remote.counter) > (self.wall_ms, self.counter) {
            self.wall_ms = remote.wall_ms;
            self.counter = remote.counter;
        }
    }

    /// How far the logical wall is ahead of the physical clock, in milliseconds
    /// (large when a peer with a fast clock has been seen, or when ours went back).
    pub fn lead_over(&self, physical_ms: u64) -> u64 {
        self.wall_ms.saturating_sub(physical_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_increase_even_when_physical_clock_goes_back() {
        let a = ActorId(1);
        let mut c = Hlc::default();
        let s1 = c.tick(1000, a);
        let s2 = c.tick(900, a);
        let s3 = c.tick(1000, a);
        assert!(s1 < s2 && s2 < s3);
    }

    #[test]
    fn an_edit_after_seeing_a_fast_peer_wins() {
        let year_ms = 365 * 86_400_000u64;
        let (a, b) = (ActorId(2), ActorId(1));
        let mut fast = Hlc::default();
        let fast_edit = fast.tick(1_000 + year_ms, a);
        let mut slow = Hlc::default();
        slow.observe(&fast_edit);
        let later_edit = slow.tick(1_000, b);
        assert!(later_edit > fast_edit);
        assert_eq!(slow.lead_over(1_000), year_ms);
    }
}
