//! The relay failover state machine: which relays are considered down, from probe observations, with a
//! hold-down before a recovered relay is trusted again.
//!
//! A relay that is up goes down when its probes have been lost `lost_threshold` times in a row. A relay
//! that is down starts recovering at its first answered probe and comes back up only once it has kept
//! answering for `hold_down`; any lost probe while recovering restarts the hold-down. So a relay that
//! answers intermittently stays down, and traffic never flaps between relays faster than the hold-down.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde::Serialize;

/// What the prober says about one relay right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    /// Probes lost since the last answered one.
    pub consecutive_lost: u32,
    /// Whether the relay ever answered.
    pub ever_answered: bool,
}

/// The health of one relay as the failover machine sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RelayHealth {
    /// Carries its pairs.
    Up,
    /// Considered down: its pairs are on a backup.
    Down,
    /// Answering again, waiting out the hold-down before it carries its pairs again.
    Recovering,
}

/// A change of one relay's health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// The relay stopped answering.
    WentDown { relay: usize, consecutive_lost: u32 },
    /// A down relay answered: the hold-down starts.
    Recovering { relay: usize },
    /// A recovering relay lost a probe: back to down, the hold-down restarts later.
    RecoveryInterrupted { relay: usize, consecutive_lost: u32 },
    /// A recovering relay answered for the whole hold-down.
    CameBack { relay: usize, healthy_for: Duration },
}

/// Thresholds of the failover machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailoverPolicy {
    /// Consecutive lost probes after which a relay is down (at least 1).
    pub lost_threshold: u32,
    /// How long a down relay must keep answering before it carries its pairs again.
    pub hold_down: Duration,
}

#[derive(Debug, Clone)]
struct Tracked {
    address: IpAddr,
    health: RelayHealth,
    /// Since when a recovering relay has been answering.
    healthy_since: Option<Instant>,
}

/// The health of a set of relays (indexed as given to [`RelayTracker::new`]).
#[derive(Debug, Clone)]
pub struct RelayTracker {
    policy: FailoverPolicy,
    relays: Vec<Tracked>,
}

impl RelayTracker {
    /// Tracks relays probed at these addresses; all start up.
    pub fn new(policy: FailoverPolicy, addresses: &[IpAddr]) -> Self {
        let relays = addresses
            .iter()
            .map(|&address| Tracked { address, health: RelayHealth::Up, healthy_since: None })
            .collect();
        RelayTracker { policy, relays }
    }

    /// The probe address of relay `i`.
    pub fn address(&self, i: usize) -> IpAddr {
        self.relays[i].address
    }

    /// The health of relay `i`.
    pub fn health(&self, i: usize) -> RelayHealth {
        self.relays[i].health
    }

    /// Since when relay `i` has been answering while recovering.
    pub fn healthy_since(&self, i: usize) -> Option<Instant> {
        self.relays[i].healthy_since
    }

    /// Whether relay `i` is considered down (down or still recovering).
    pub fn is_down(&self, i: usize) -> bool {
        self.relays[i].health != RelayHealth::Up
    }

    /// Number of relays tracked.
    pub fn len(&self) -> usize {
        self.relays.len()
    }

    /// Whether no relay is tracked.
    pub fn is_empty(&self) -> bool {
        self.relays.is_empty()
    }

    /// Feeds one round of observations (None: nothing known about that relay yet) at time `now`; returns
    /// the transitions, in relay order.
    pub fn update(&mut self, now: Instant, observe: impl Fn(IpAddr) -> Option<Observation>) -> Vec<Transition> {
        let threshold = self.policy.lost_threshold.max(1);
        let mut transitions = Vec::new();
        for (i, relay) in self.relays.iter_mut().enumerate() {
            let Some(seen) = observe(relay.address) else { continue };
            match relay.health {
                RelayHealth::Up => {
                    if seen.consecutive_lost >= threshold {
                        relay.health = RelayHealth::Down;
                        relay.healthy_since = None;
                        transitions.push(Transition::WentDown { relay: i, consecutive_lost: seen.consecutive_lost });
                    }
                }
                RelayHealth::Down => {
                    if seen.consecutive_lost == 0 && seen.ever_answered {
                        relay.health = RelayHealth::Recovering;
                        relay.healthy_since = Some(now);
                        transitions.push(Transition::Recovering { relay: i });
                    }
                }
                RelayHealth::Recovering => {
                    if seen.consecutive_lost > 0 {
                        relay.health = RelayHealth::Down;
                        relay.healthy_since = None;
                        transitions.push(Transition::RecoveryInterrupted {
                            relay: i,
                            consecutive_lost: seen.consecutive_lost,
                        });
                        continue;
                    }
                    let since = relay.healthy_since.unwrap_or(now);
                    let healthy_for = now.saturating_duration_since(since);
                    if healthy_for >= self.policy.hold_down {
                        relay.health = RelayHealth::Up;
                        relay.healthy_since = None;
                        transitions.push(Transition::CameBack { relay: i, healthy_for });
                    }
                }
            }
        }
        transitions
    }
}

/// Exponential back-off between attempts: `initial`, doubling, capped at `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The delay after the first failure.
    pub initial: Duration,
    /// The longest delay.
    pub max: Duration,
}

impl Backoff {
    /// The delay before attempt number `failures + 1`, after `failures` failed attempts (0: none yet,
    /// so no delay).
    pub fn delay(&self, failures: u32) -> Duration {
        if failures == 0 {
            return Duration::ZERO;
        }
        let factor = 1u32.checked_shl(failures - 1).unwrap_or(u32::MAX);
        self.initial.checked_mul(factor).unwrap_or(self.max).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 77, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 77, 0, 2));

    fn policy() -> FailoverPolicy {
        FailoverPolicy { lost_threshold: 3, hold_down: Duration::from_secs(10) }
    }

    fn seen(lost: u32) -> Option<Observation> {
        Some(Observation { consecutive_lost: lost, ever_answered: true })
    }

    #[test]
    fn a_relay_goes_down_at_the_threshold_and_not_before() {
        let t0 = Instant::now();
        let mut tracker = RelayTracker::new(policy(), &[A, B]);
        for lost in 0..3 {
            assert!(tracker.update(t0, |ip| if ip == A { seen(lost) } else { seen(0) }).is_empty());
        }
        let changes = tracker.update(t0, |ip| if ip == A { seen(3) } else { seen(0) });
        assert_eq!(changes, vec![Transition::WentDown { relay: 0, consecutive_lost: 3 }]);
        assert!(tracker.is_down(0) && !tracker.is_down(1));
        // Still lost: no repeated transition.
        assert!(tracker.update(t0, |ip| if ip == A { seen(9) } else { seen(0) }).is_empty());
    }

    #[test]
    fn nothing_known_changes_nothing() {
        let mut tracker = RelayTracker::new(policy(), &[A]);
        assert!(tracker.update(Instant::now(), |_| None).is_empty());
        assert_eq!(tracker.health(0), RelayHealth::Up);
    }

    #[test]
    fn back_up_only_after_the_hold_down() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut tracker = RelayTracker::new(policy(), &[A]);
        tracker.update(t0, |_| seen(5));
        assert_eq!(tracker.update(t0 + s, |_| seen(0)), vec![Transition::Recovering { relay: 0 }]);
        assert!(tracker.is_down(0), "recovering still counts as down");
        for secs in 2..11 {
            assert!(tracker.update(t0 + s * secs, |_| seen(0)).is_empty(), "at {secs} s");
            assert!(tracker.is_down(0));
        }
        assert_eq!(
            tracker.update(t0 + s * 11, |_| seen(0)),
            vec![Transition::CameBack { relay: 0, healthy_for: s * 10 }]
        );
        assert!(!tracker.is_down(0));
    }

    #[test]
    fn a_flapping_relay_stays_down() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut tracker = RelayTracker::new(policy(), &[A]);
        tracker.update(t0, |_| seen(3));
        // Answers for 8 s, loses one probe, answers again: the hold-down starts over each time.
        let mut now = t0;
        for _round in 0..5 {
            for _ in 0..8 {
                now += s;
                tracker.update(now, |_| seen(0));
                assert!(tracker.is_down(0));
            }
            now += s;
            let changes = tracker.update(now, |_| seen(1));
            assert_eq!(changes, vec![Transition::RecoveryInterrupted { relay: 0, consecutive_lost: 1 }]);
        }
        assert!(tracker.is_down(0));
        // A first reply after the interruption starts a fresh hold-down.
        now += s;
        tracker.update(now, |_| seen(0));
        assert_eq!(tracker.healthy_since(0), Some(now));
    }

    #[test]
    fn a_relay_that_never_answered_does_not_recover() {
        let mut tracker = RelayTracker::new(policy(), &[A]);
        let t0 = Instant::now();
        tracker.update(t0, |_| Some(Observation { consecutive_lost: 4, ever_answered: false }));
        assert!(tracker.is_down(0));
        // consecutive_lost 0 with no reply ever is "nothing sent yet", not a recovery.
        assert!(tracker.update(t0, |_| Some(Observation { consecutive_lost: 0, ever_answered: false })).is_empty());
        assert!(tracker.is_down(0));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let b = Backoff { initial: Duration::from_secs(1), max: Duration::from_secs(30) };
        let delays: Vec<u64> = (0..9).map(|f| b.delay(f).as_secs()).collect();
        assert_eq!(delays, [0, 1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(b.delay(200), Duration::from_secs(30));
    }
}
