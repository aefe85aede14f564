//! The overload detector: a per-worker state machine with hysteresis.
//!
//! The Linux backlog-threads discussion proposed queue utilisation above
//! 75% as the DoS signal. napifwd samples a fill ratio (backlog, RX queue,
//! or packet rate against a ceiling, whichever is highest) and enters
//! overload only after the signal stayed above `high` for `enter_after`,
//! and leaves only after it stayed below `low` for `exit_after`: a signal
//! that hovers around one threshold does not flap the state.
//!
//! Pure: time is whatever clock the caller passes (TSC ticks on workers).

/// Normal or overloaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum State {
    /// Within capacity.
    #[default]
    Normal,
    /// Above capacity: the overload policy acts.
    Overloaded,
}

/// Thresholds and dwell times, in the caller's clock units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Fill at or above which overload may start.
    pub high: f64,
    /// Fill at or below which overload may end.
    pub low: f64,
    /// How long the signal must stay >= `high` to enter.
    pub enter_after: u64,
    /// How long the signal must stay <= `low` to leave.
    pub exit_after: u64,
}

/// One worker's detector.
#[derive(Debug, Clone)]
pub struct Detector {
    t: Thresholds,
    state: State,
    /// When the signal last crossed into the zone that leads to a
    /// transition (above high while normal, below low while overloaded).
    since: Option<u64>,
    entered_at: u64,
    overloaded_ticks: u64,
    transitions: u64,
}

impl Detector {
    /// A detector in the normal state.
    pub fn new(t: Thresholds) -> Detector {
        Detector {
            t,
            state: State::Normal,
            since: None,
            entered_at: 0,
            overloaded_ticks: 0,
            transitions: 0,
        }
    }

    /// Feeds one sample of the signal (a fill ratio, 0.0 = empty, 1.0 =
    /// full) taken at `now`. Returns the new state when it changed.
    #[inline]
    pub fn update(&mut self, now: u64, fill: f64) -> Option<State> {
        match self.state {
            State::Normal => {
                if fill >= self.t.high {
                    let since = *self.since.get_or_insert(now);
                    if now.wrapping_sub(since) >= self.t.enter_after {
                        self.state = State::Overloaded;
                        self.since = None;
                        self.entered_at = now;
                        self.transitions += 1;
                        return Some(State::Overloaded);
                    }
                } else {
                    self.since = None;
                }
            }
            State::Overloaded => {
                if fill <= self.t.low {
                    let since = *self.since.get_or_insert(now);
                    if now.wrapping_sub(since) >= self.t.exit_after {
                        self.state = State::Normal;
                        self.since = None;
                        self.overloaded_ticks += now.wrapping_sub(self.entered_at);
                        self.transitions += 1;
                        return Some(State::Normal);
                    }
                } else {
                    self.since = None;
                }
            }
        }
        None
    }

    /// The current state.
    #[inline]
    pub fn state(&self) -> State {
        self.state
    }

    /// State changes so far (entering and leaving each count one).
    pub fn transitions(&self) -> u64 {
        self.transitions
    }

    /// Total time spent overloaded up to `now`.
    pub fn overloaded_ticks(&self, now: u64) -> u64 {
        match self.state {
            State::Normal => self.overloaded_ticks,
            State::Overloaded => self.overloaded_ticks + now.wrapping_sub(self.entered_at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T: Thresholds = Thresholds {
        high: 0.75,
        low: 0.25,
        enter_after: 10,
        exit_after: 100,
    };

    #[test]
    fn enters_after_dwell_and_leaves_after_dwell() {
        let mut d = Detector::new(T);
        assert_eq!(d.update(0, 0.9), None);
        assert_eq!(d.update(9, 0.9), None);
        assert_eq!(d.update(10, 0.8), Some(State::Overloaded));
        // Between the watermarks: stays overloaded.
        assert_eq!(d.update(50, 0.5), None);
        assert_eq!(d.update(60, 0.2), None);
        assert_eq!(d.update(159, 0.1), None);
        assert_eq!(d.update(160, 0.0), Some(State::Normal));
        assert_eq!(d.transitions(), 2);
        assert_eq!(d.overloaded_ticks(1000), 150);
    }

    #[test]
    fn a_dip_restarts_the_dwell() {
        let mut d = Detector::new(T);
        d.update(0, 0.9);
        d.update(5, 0.5); // dips below high
        assert_eq!(d.update(12, 0.9), None, "dwell restarted at 12");
        assert_eq!(d.update(22, 0.9), Some(State::Overloaded));
    }

    #[test]
    fn zero_dwell_is_immediate() {
        let mut d = Detector::new(Thresholds {
            enter_after: 0,
            exit_after: 0,
            ..T
        });
        assert_eq!(d.update(1, 0.75), Some(State::Overloaded));
        assert_eq!(d.update(2, 0.25), Some(State::Normal));
    }

    proptest! {
        /// No flapping: between two transitions at least the dwell time of
        /// the second one passes, and transitions alternate.
        #[test]
        fn transitions_respect_dwell(samples in proptest::collection::vec((1u64..30, 0.0f64..1.0), 1..400)) {
            let mut d = Detector::new(T);
            let mut now = 0u64;
            let mut last_change = 0u64;
            let mut last = State::Normal;
            for (dt, fill) in samples {
                now += dt;
                if let Some(s) = d.update(now, fill) {
                    prop_assert_ne!(s, last, "transition to the same state");
                    let dwell = if s == State::Overloaded { T.enter_after } else { T.exit_after };
                    prop_assert!(now - last_change >= dwell);
                    if s == State::Overloaded { prop_assert!(fill >= T.high) } else { prop_assert!(fill <= T.low) }
                    last = s;
                    last_change = now;
                }
                prop_assert_eq!(d.state(), last);
            }
        }
    }
}
