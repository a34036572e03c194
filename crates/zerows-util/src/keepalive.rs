//! Keepalive: ping on an idle connection, give up when nothing answers
//! ([`Config::keepalive`](crate::Config::keepalive)).
//!
//! [`Keepalive`] is a sans-IO timer (time is passed in, as in quinn-proto): it says when to ping and
//! when the peer is gone; the connection core runs it from `handle_timeout`.

use std::time::{Duration, Instant};

/// What the keepalive timer wants now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeepaliveAction {
    /// Nothing until [`Keepalive::deadline`].
    Wait,
    /// Send a ping with this payload.
    Ping([u8; 8]),
    /// No pong (nor any other frame) arrived within the timeout: the peer is gone.
    TimedOut,
}

/// A keepalive timer: after `interval` without receiving anything, ping; if nothing arrives
/// within `timeout` of the ping, time out. Any received frame counts as a sign of life.
///
#[derive(Clone, Debug)]
pub(crate) struct Keepalive {
    interval: Duration,
    timeout: Duration,
    last_seen: Instant,
    /// The outstanding ping: its sequence number and when it was sent.
    outstanding: Option<(u64, Instant)>,
    seq: u64,
}

impl Keepalive {
    /// A timer that starts now.
    pub(crate) fn new(interval: Duration, timeout: Duration, now: Instant) -> Keepalive {
        Keepalive {
            interval,
            timeout,
            last_seen: now,
            outstanding: None,
            seq: 0,
        }
    }

    /// When [`poll`](Self::poll) next has something to do.
    pub(crate) fn deadline(&self) -> Instant {
        match self.outstanding {
            Some((_, sent)) => sent + self.timeout,
            None => self.last_seen + self.interval,
        }
    }

    /// What to do at `now`.
    pub(crate) fn poll(&mut self, now: Instant) -> KeepaliveAction {
        match self.outstanding {
            Some((_, sent)) if now >= sent + self.timeout => KeepaliveAction::TimedOut,
            Some(_) => KeepaliveAction::Wait,
            None if now >= self.last_seen + self.interval => {
                self.seq += 1;
                self.outstanding = Some((self.seq, now));
                KeepaliveAction::Ping(self.seq.to_be_bytes())
            }
            None => KeepaliveAction::Wait,
        }
    }

    /// When the peer was last heard from (or the timer started).
    pub(crate) fn last_seen(&self) -> Instant {
        self.last_seen
    }

    /// Whether a ping is out and unanswered.
    pub(crate) fn is_waiting(&self) -> bool {
        self.outstanding.is_some()
    }

    /// Something arrived from the peer: it is alive.
    pub(crate) fn on_activity(&mut self, now: Instant) {
        self.last_seen = now;
        self.outstanding = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pings_after_the_interval_and_times_out_without_an_answer() {
        let t0 = Instant::now();
        let mut ka = Keepalive::new(Duration::from_secs(30), Duration::from_secs(10), t0);
        assert_eq!(ka.poll(t0 + Duration::from_secs(1)), KeepaliveAction::Wait);
        assert!(matches!(
            ka.poll(t0 + Duration::from_secs(30)),
            KeepaliveAction::Ping(_)
        ));
        ka.on_activity(t0 + Duration::from_secs(31));
        assert_eq!(ka.poll(t0 + Duration::from_secs(45)), KeepaliveAction::Wait);
        // no answer to the next ping
        assert!(matches!(
            ka.poll(t0 + Duration::from_secs(61)),
            KeepaliveAction::Ping(_)
        ));
        assert_eq!(
            ka.poll(t0 + Duration::from_secs(72)),
            KeepaliveAction::TimedOut
        );
    }
}
