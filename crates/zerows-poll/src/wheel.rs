//! A hashed timing wheel over the connection slots: one deadline per connection, kept in
//! intrusive lists threaded through the slots themselves, so arming, moving and cancelling a
//! timer never allocates (the wheel's buckets are allocated once).

/// No slot / no deadline.
pub(crate) const NONE: u32 = u32::MAX;

/// A slot's place in the wheel: its deadline tick and its neighbours in the bucket.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Link {
    pub(crate) at: u32,
    prev: u32,
    next: u32,
}

impl Link {
    pub(crate) const UNARMED: Link = Link {
        at: NONE,
        prev: NONE,
        next: NONE,
    };

    pub(crate) fn is_armed(&self) -> bool {
        self.at != NONE
    }
}

/// Something that has a [`Link`] per index: the slot table.
pub(crate) trait Links {
    fn link(&mut self, index: u32) -> &mut Link;
}

/// The wheel: `buckets.len()` (a power of two) ticks per turn; a deadline further out stays in
/// its bucket for more turns (its tick says when).
#[derive(Debug)]
pub(crate) struct Wheel {
    buckets: Box<[u32]>,
    /// Every tick before this one was processed.
    now: u32,
    /// How many indexes are armed.
    armed: usize,
}

impl Wheel {
    pub(crate) fn new(buckets: usize) -> Wheel {
        let n = buckets.next_power_of_two().max(2);
        Wheel {
            buckets: vec![NONE; n].into_boxed_slice(),
            now: 0,
            armed: 0,
        }
    }

    fn bucket(&self, tick: u32) -> usize {
        tick as usize & (self.buckets.len() - 1)
    }

    /// Arms `index` for `at` (a tick in the past fires at the next [`expire`](Self::expire)),
    /// moving it if it was armed.
    pub(crate) fn arm(&mut self, slots: &mut impl Links, index: u32, at: u32) {
        let at = at.max(self.now);
        if slots.link(index).at == at {
            return;
        }
        self.cancel(slots, index);
        let b = self.bucket(at);
        let head = self.buckets[b];
        *slots.link(index) = Link {
            at,
            prev: NONE,
            next: head,
        };
        if head != NONE {
            slots.link(head).prev = index;
        }
        self.buckets[b] = index;
        self.armed += 1;
    }

    /// Disarms `index` (nothing if it was not armed).
    pub(crate) fn cancel(&mut self, slots: &mut impl Links, index: u32) {
        let link = *slots.link(index);
        if !link.is_armed() {
            return;
        }
        if link.prev == NONE {
            let b = self.bucket(link.at);
            self.buckets[b] = link.next;
        } else {
            slots.link(link.prev).next = link.next;
        }
        if link.next != NONE {
            slots.link(link.next).prev = link.prev;
        }
        *slots.link(index) = Link::UNARMED;
        self.armed -= 1;
    }

    /// Collects (disarmed) every index whose deadline is at or before `until` into `fired`,
    /// at most `limit` of them (the rest fire at the next call).
    pub(crate) fn expire(
        &mut self,
        slots: &mut impl Links,
        until: u32,
        fired: &mut Vec<u32>,
        limit: usize,
    ) {
        while self.now <= until {
            let b = self.bucket(self.now);
            let mut i = self.buckets[b];
            while i != NONE {
                let link = *slots.link(i);
                if link.at <= self.now {
                    if fired.len() >= limit {
                        return;
                    }
                    self.cancel(slots, i);
                    fired.push(i);
                }
                i = link.next;
            }
            if self.now == until {
                return;
            }
            self.now += 1;
        }
    }

    /// The first tick at or after now whose bucket holds a deadline (of this turn or a later
    /// one: then the loop wakes early and finds nothing due), if any is armed.
    pub(crate) fn next_deadline(&self) -> Option<u32> {
        if self.armed == 0 {
            return None;
        }
        let n = u32::try_from(self.buckets.len()).unwrap_or(u32::MAX);
        (self.now..self.now.saturating_add(n)).find(|&t| self.buckets[self.bucket(t)] != NONE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Table(Vec<Link>);
    impl Links for Table {
        fn link(&mut self, index: u32) -> &mut Link {
            &mut self.0[index as usize]
        }
    }

    #[test]
    fn deadlines_fire_in_their_tick_and_not_before() {
        let mut t = Table(vec![Link::UNARMED; 8]);
        let mut w = Wheel::new(4);
        w.arm(&mut t, 0, 2);
        w.arm(&mut t, 1, 6); // same bucket as 2, one turn later
        w.arm(&mut t, 2, 3);
        w.arm(&mut t, 3, 9);
        w.cancel(&mut t, 3);
        assert_eq!(w.next_deadline(), Some(2));
        let mut fired = Vec::new();
        w.expire(&mut t, 1, &mut fired, 100);
        assert!(fired.is_empty());
        w.expire(&mut t, 3, &mut fired, 100);
        fired.sort_unstable();
        assert_eq!(fired, [0, 2]);
        assert!(!t.0[0].is_armed());
        fired.clear();
        w.expire(&mut t, 5, &mut fired, 100);
        assert!(fired.is_empty());
        w.expire(&mut t, 20, &mut fired, 100);
        assert_eq!(fired, [1]);
        assert_eq!(w.next_deadline(), None);
    }

    #[test]
    fn moving_a_deadline_keeps_one_entry() {
        let mut t = Table(vec![Link::UNARMED; 2]);
        let mut w = Wheel::new(8);
        w.arm(&mut t, 0, 5);
        w.arm(&mut t, 0, 7);
        w.arm(&mut t, 1, 7);
        let mut fired = Vec::new();
        w.expire(&mut t, 6, &mut fired, 100);
        assert!(fired.is_empty());
        w.expire(&mut t, 7, &mut fired, 100);
        fired.sort_unstable();
        assert_eq!(fired, [0, 1]);
    }
}
