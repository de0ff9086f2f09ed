//! A small in-memory rate limiter: at most `limit` events per key in a fixed window. Each node
//! counts for itself, so N nodes allow up to N times the limit; that bounds abuse well enough
//! for what it guards (anonymous sign-up, reset requests, password guessing) without a shared
//! store.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::clock::Millis;
use crate::error::ApiError;

struct Window {
    started: Millis,
    count: u32,
}

pub struct RateLimiter {
    limit: u32,
    window_ms: Millis,
    capacity: usize,
    windows: Mutex<HashMap<String, Window>>,
}

impl RateLimiter {
    pub fn new(limit: u32, window_seconds: i64, capacity: usize) -> Self {
        Self {
            limit,
            window_ms: window_seconds * 1000,
            capacity: capacity.max(1),
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `key` is over the limit at `now`, without counting anything: a 429 saying when
    /// to come back if it is.
    pub fn peek(&self, key: &str, now: Millis) -> Result<(), ApiError> {
        let windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        match windows.get(key) {
            Some(w) if now - w.started < self.window_ms && w.count >= self.limit => {
                Err(self.refusal(w, now))
            }
            _ => Ok(()),
        }
    }

    fn refusal(&self, window: &Window, now: Millis) -> ApiError {
        let wait_ms = window.started + self.window_ms - now;
        ApiError::RateLimited {
            retry_after_seconds: ((wait_ms + 999) / 1000).max(1) as u64,
        }
    }

    /// Counts one event for `key` at `now`; over the limit, a 429 saying when to come back.
    pub fn check(&self, key: &str, now: Millis) -> Result<(), ApiError> {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() >= self.capacity && !windows.contains_key(key) {
            windows.retain(|_, w| now - w.started < self.window_ms);
            // Still full: a flood of distinct keys. Forgetting them all keeps memory bounded;
            // each key's next window starts afresh.
            if windows.len() >= self.capacity {
                windows.clear();
            }
        }
        let window = windows.entry(key.to_string()).or_insert(Window {
            started: now,
            count: 0,
        });
        if now - window.started >= self.window_ms {
            window.started = now;
            window.count = 0;
        }
        if window.count >= self.limit {
            return Err(self.refusal(window, now));
        }
        window.count += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn peeking_counts_nothing() {
        let l = RateLimiter::new(1, 60, 100);
        for _ in 0..3 {
            assert!(l.peek("a", 0).is_ok());
        }
        assert!(l.check("a", 0).is_ok());
        assert!(matches!(
            l.peek("a", 1000),
            Err(ApiError::RateLimited {
                retry_after_seconds: 59
            })
        ));
        assert!(l.peek("a", 60_000).is_ok());
    }

    #[test]
    fn stays_bounded() {
        let l = RateLimiter::new(1, 60, 3);
        for k in ["a", "b", "c", "d", "e"] {
            assert!(l.check(k, 0).is_ok());
        }
        assert!(l.windows.lock().unwrap().len() <= 3);
    }
}
