//! A small in-memory rate limiter: at most `limit` events per key in a fixed window, counted
//! by each node for itself. It guards no one's account (the abuse limits, which must hold
//! across nodes, are `security::limits`, counted in the store); it bounds work a node does
//! of its own accord, such as how many refusals of one caller it records in the audit trail.
//!
//! Memory is bounded by `capacity` keys. A key over its limit is never forgotten before its
//! window ends: otherwise a flood of made-up keys would wipe a victim's count. When the table is
//! full, a new key makes room by dropping ended windows, then the least recently counted keys
//! under their limit, an eighth of the capacity at once, so the pass (linear in the table) is
//! paid once per that many new keys. Should keys over their limit fill the table, new keys are
//! let through uncounted until the earliest of those windows ends, with one warning per pass.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::clock::Millis;
use crate::error::ApiError;

struct Window {
    started: Millis,
    count: u32,
    /// When the key was last counted, in events of this limiter: the least recent go first.
    touched: u64,
}

struct Table {
    windows: HashMap<String, Window>,
    events: u64,
    /// Until then the table is full of keys over their limit: new keys are not counted.
    crowded_until: Millis,
}

pub struct RateLimiter {
    limit: u32,
    window_ms: Millis,
    capacity: usize,
    table: Mutex<Table>,
}

impl RateLimiter {
    pub fn new(limit: u32, window_seconds: i64, capacity: usize) -> Self {
        Self {
            limit,
            window_ms: window_seconds * 1000,
            capacity: capacity.max(1),
            table: Mutex::new(Table {
                windows: HashMap::new(),
                events: 0,
                crowded_until: Millis::MIN,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn live(&self, w: &Window, now: Millis) -> bool {
        now - w.started < self.window_ms
    }

    fn over(&self, w: &Window, now: Millis) -> bool {
        self.live(w, now) && w.count >= self.limit
    }

    fn refusal(&self, window: &Window, now: Millis) -> ApiError {
        let wait_ms = window.started + self.window_ms - now;
        ApiError::RateLimited {
            retry_after_seconds: ((wait_ms + 999) / 1000).max(1) as u64,
        }
    }

    /// Counts one event for `key` at `now`; over the limit, a 429 saying when to come back.
    pub fn check(&self, key: &str, now: Millis) -> Result<(), ApiError> {
        self.count(key, now).map(|_| ())
    }

    /// Counts one event; answers the start of the window it was counted in (`None` when the
    /// table was too full to count it).
    fn count(&self, key: &str, now: Millis) -> Result<Option<Millis>, ApiError> {
        let mut table = self.lock();
        if table.windows.len() >= self.capacity && !table.windows.contains_key(key) {
            if now < table.crowded_until {
                return Ok(None);
            }
            self.make_room(&mut table, now);
            if table.windows.len() >= self.capacity {
                return Ok(None);
            }
        }
        table.events += 1;
        let touched = table.events;
        let window = table.windows.entry(key.to_string()).or_insert(Window {
            started: now,
            count: 0,
            touched,
        });
        window.touched = touched;
        if now - window.started >= self.window_ms {
            window.started = now;
            window.count = 0;
        }
        if window.count >= self.limit {
            return Err(self.refusal(window, now));
        }
        window.count += 1;
        Ok(Some(window.started))
    }

    /// Drops ended windows, then the least recently counted keys under their limit, until an
    /// eighth of the capacity is free; a table still fuller than that is crowded until its
    /// earliest window ends.
    fn make_room(&self, table: &mut Table, now: Millis) {
        let batch = (self.capacity / 8).max(1);
        table.windows.retain(|_, w| self.live(w, now));
        let target = self.capacity.saturating_sub(batch);
        let excess = table.windows.len().saturating_sub(target);
        if excess > 0 {
            let mut under: Vec<u64> = table
                .windows
                .values()
                .filter(|w| !self.over(w, now))
                .map(|w| w.touched)
                .collect();
            if under.len() > excess {
                // `touched` is unique per key, so this evicts exactly `excess` keys.
                let (_, newest_evicted, _) = under.select_nth_unstable(excess - 1);
                let newest_evicted = *newest_evicted;
                table
                    .windows
                    .retain(|_, w| self.over(w, now) || w.touched > newest_evicted);
            } else if !under.is_empty() {
                table.windows.retain(|_, w| self.over(w, now));
            }
        }
        if table.windows.len() > target {
            let earliest_end = table
                .windows
                .values()
                .map(|w| w.started + self.window_ms)
                .min()
                .unwrap_or(now);
            table.crowded_until = earliest_end;
            tracing::warn!(
                keys = table.windows.len(),
                capacity = self.capacity,
                seconds = (earliest_end - now) / 1000,
                "rate limiter full of keys over their limit: new keys beyond its capacity are \
                 not counted until the earliest window ends"
            );
        }
    }

    /// Whether `key` is over the limit at `now`, without counting anything.
    #[cfg(test)]
    fn peek(&self, key: &str, now: Millis) -> Result<(), ApiError> {
        let table = self.lock();
        match table.windows.get(key) {
            Some(w) if self.over(w, now) => Err(self.refusal(w, now)),
            _ => Ok(()),
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().windows.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(r: Result<(), ApiError>) -> bool {
        matches!(r, Err(ApiError::RateLimited { .. }))
    }

    #[test]
    fn counts_per_key_and_window() {
        let l = RateLimiter::new(2, 60, 100);
        assert!(l.check("a", 0).is_ok());
        assert!(l.check("a", 1000).is_ok());
        match l.check("a", 2000) {
            Err(ApiError::RateLimited {
                retry_after_seconds,
            }) => assert_eq!(retry_after_seconds, 58),
            other => panic!("{other:?}"),
        }
        assert!(l.check("b", 2000).is_ok());
        assert!(l.check("a", 60_000).is_ok());
    }

    #[test]
    fn stays_bounded() {
        let l = RateLimiter::new(1, 60, 3);
        for k in ["a", "b", "c", "d", "e"] {
            assert!(l.check(k, 0).is_ok());
        }
        assert!(l.len() <= 3);
    }

    #[test]
    fn a_victim_over_the_limit_survives_a_flood_of_distinct_keys() {
        let l = RateLimiter::new(3, 3600, 1000);
        for _ in 0..3 {
            assert!(l.check("victim", 0).is_ok());
        }
        assert!(refused(l.check("victim", 0)));
        for i in 0..100_000 {
            assert!(l.check(&format!("made-up-{i}"), 1000).is_ok());
            assert!(l.len() <= 1000);
        }
        assert!(refused(l.peek("victim", 2000)));
        assert!(refused(l.check("victim", 2000)));
        assert!(l.peek("victim", 3_600_000).is_ok());
    }

    #[test]
    fn ended_windows_go_first_then_the_least_recent_under_the_limit() {
        // Capacity 8: a pass frees one key (an eighth).
        let l = RateLimiter::new(2, 60, 8);
        assert!(l.check("old", 0).is_ok());
        for k in ["a", "b", "c", "d", "e", "f", "g"] {
            assert!(l.check(k, 50_000).is_ok());
        }
        assert!(l.check("a", 51_000).is_ok());
        assert!(refused(l.check("a", 51_000)));
        assert!(l.check("b", 52_000).is_ok());
        // Full; "old" has ended and goes.
        assert!(l.check("h", 61_000).is_ok());
        assert_eq!(l.len(), 8);
        assert!(!l.lock().windows.contains_key("old"));
        // Full again; nothing has ended: "c" is the least recent key under its limit ("a" and
        // "b", older still, are at theirs).
        assert!(l.check("i", 62_000).is_ok());
        assert_eq!(l.len(), 8);
        let table = l.lock();
        assert!(!table.windows.contains_key("c"));
        for kept in ["a", "b", "d", "e", "f", "g", "h", "i"] {
            assert!(table.windows.contains_key(kept), "{kept}");
        }
    }

    #[test]
    fn with_every_key_over_its_limit_new_keys_pass_uncounted_until_a_window_ends() {
        let l = RateLimiter::new(1, 60, 4);
        for (i, k) in ["a", "b", "c", "d"].into_iter().enumerate() {
            let at = i as Millis * 1000;
            assert!(l.check(k, at).is_ok());
            assert!(refused(l.check(k, at)));
        }
        for _ in 0..3 {
            assert!(l.check("new", 10_000).is_ok());
        }
        assert_eq!(l.len(), 4);
        for k in ["a", "b", "c", "d"] {
            assert!(refused(l.peek(k, 10_000)), "{k}");
        }
        // "a" ended at 60 s: from then on new keys are counted again.
        assert!(l.check("new", 60_000).is_ok());
        assert!(refused(l.check("new", 60_000)));
        assert!(refused(l.peek("b", 60_000)));
    }
}
