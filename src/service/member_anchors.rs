//! Deep pages of an organization's members without skipping every member before them.
//!
//! `OFFSET 900000` makes the database walk 900,000 entries of the order's index, however well
//! indexed: most of a second for one page. So each node keeps in memory, per organization and
//! order, every `users.anchor_every`-th member's position (his ordering key and user ID: an
//! anchor), with the number of members and the organization's `members_version` they were read
//! at (all from one snapshot). A page at offset O starts from the anchor at or before O and
//! skips fewer than `anchor_every` members from there.
//!
//! Anchors are trusted only when the database agrees: the statement that reads the page also
//! reads the organization's current `members_version`, which every change to its members bumps
//! in the change's own transaction (whichever node makes it). When they differ the anchors are
//! dropped and the page is read the plain way; the next deep page builds them again. So a page
//! is always exactly the one the plain `OFFSET` query answers.
//!
//! Anchors are built on the first page that needs them (offset at least `anchor_every`), by one
//! request per organization and order while the others wait for it, in one statement that
//! sends only the anchors out of the database. Descending pages use the same ascending anchors,
//! counting from the end (the member count is exact whenever the version is). A page acting in
//! several organizations at once (`organizations=a,b`) is read the plain way: its members are
//! the union of several lists, which no single organization's anchors describe.

use std::sync::Arc;

use quick_cache::sync::Cache;
use quick_cache::{OptionsBuilder, Weighter};
use sqlx::AnyConnection;

use crate::store::memberships::{self, Anchors, MemberOrder, OrderKey};
use crate::store::users::UserRow;

type Key = (String, MemberOrder);

struct Entry {
    anchors: Anchors,
    /// Roughly the bytes the anchors take, computed once: the cache's bound.
    bytes: u64,
}

#[derive(Clone)]
struct ByBytes;

impl Weighter<Key, Arc<Entry>> for ByBytes {
    fn weight(&self, key: &Key, entry: &Arc<Entry>) -> u64 {
        key.0.len() as u64 + entry.bytes
    }
}

/// The anchors of the organizations this node has listed deep into, bounded in bytes.
pub struct MemberAnchors {
    every: i64,
    cache: Cache<Key, Arc<Entry>, ByBytes>,
}

impl MemberAnchors {
    pub fn new(every: i64, capacity_bytes: u64) -> Self {
        // One shard: the bound is shared by all organizations, and one large organization's
        // anchors must fit in it (a sharded cache divides the bound between its shards).
        let options = OptionsBuilder::new()
            .shards(1)
            .estimated_items_capacity(64)
            .weight_capacity(capacity_bytes)
            .build()
            .expect("complete cache options");
        Self {
            every: every.max(1),
            cache: Cache::with_options(options, ByBytes, Default::default(), Default::default()),
        }
    }

    /// One page of the members of `organizations` (a user counts once), and whether more
    /// follow: what `memberships::page` answers, from the anchors when they help.
    pub async fn page(
        &self,
        conn: &mut AnyConnection,
        organizations: &[String],
        order: MemberOrder,
        descending: bool,
        offset: i64,
        records: i64,
    ) -> Result<(Vec<UserRow>, bool), sqlx::Error> {
        let plain =
            |conn| memberships::page(conn, organizations, order, descending, offset, records);
        let [organization] = organizations else {
            return plain(conn).await;
        };
        if offset < self.every {
            // The index walk is short anyway.
            return plain(conn).await;
        }
        let key = (organization.clone(), order);
        let Some(entry) = self.entry(conn, &key).await? else {
            return plain(conn).await;
        };
        let anchors = &entry.anchors;
        let forget = || {
            self.cache.remove_if(&key, |e| Arc::ptr_eq(e, &entry));
        };
        if offset >= anchors.count {
            // Past the end, if the anchors still count the members right.
            if memberships::members_version(conn, organization).await? == Some(anchors.version) {
                return Ok((Vec::new(), false));
            }
            forget();
            return plain(conn).await;
        }
        let every = anchors.every;
        let (index, skip) = if descending {
            // The page's first member, counted from the start; the anchor at or after him.
            let position = anchors.count - 1 - offset;
            let index = (position + every - 1) / every;
            (index, index * every - position)
        } else {
            let index = offset / every;
            (index, offset - index * every)
        };
        let Some((anchor_key, anchor_user)) = anchors.keys.get(index as usize) else {
            // Descending, among the last members after the last anchor: fewer than `every`
            // from the end, a short walk.
            return plain(conn).await;
        };
        let read = memberships::page_from(
            conn,
            organization,
            order,
            descending,
            (anchor_key, anchor_user),
            skip,
            records,
        )
        .await?;
        match read {
            Some((users, more, version)) if version == anchors.version => Ok((users, more)),
            _ => {
                forget();
                plain(conn).await
            }
        }
    }

    /// The anchors of an organization in an order: from memory, else built now (one build at a
    /// time per key; the others wait for it). `None` when the organization does not exist.
    async fn entry(
        &self,
        conn: &mut AnyConnection,
        key: &Key,
    ) -> Result<Option<Arc<Entry>>, sqlx::Error> {
        let guard = match self.cache.get_value_or_guard_async(key).await {
            Ok(entry) => return Ok(Some(entry)),
            Err(guard) => guard,
        };
        let Some(anchors) = memberships::anchors(conn, &key.0, key.1, self.every).await? else {
            return Ok(None);
        };
        let entry = Arc::new(Entry {
            bytes: weight(&anchors),
            anchors,
        });
        // Not kept if larger than the whole bound; this page still uses it.
        let _ = guard.insert(entry.clone());
        Ok(Some(entry))
    }

    /// How many organization orders have anchors in memory (for tests and metrics).
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cache.is_empty()
    }
}

fn weight(anchors: &Anchors) -> u64 {
    let fixed = std::mem::size_of::<(OrderKey, String)>() as u64;
    let heap: u64 = anchors
        .keys
        .iter()
        .map(|(k, u)| {
            let k = match k {
                OrderKey::Millis(_) => 0,
                OrderKey::Text(t) => t.capacity() as u64,
            };
            fixed + k + u.capacity() as u64
        })
        .sum();
    std::mem::size_of::<Entry>() as u64 + heap
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anchors(n: usize) -> Anchors {
        Anchors {
            every: 1000,
            keys: (0..n)
                .map(|i| {
                    (
                        OrderKey::Text(format!("user{i:07}@example.com")),
                        format!("USR-{i:032}"),
                    )
                })
                .collect(),
            count: n as i64 * 1000,
            version: 0,
        }
    }

    #[test]
    fn a_large_organization_fits_the_default_bound() {
        // 1,000,000 members at the default spacing: 1,000 anchors, well under 4 MiB.
        let bytes = weight(&anchors(1000));
        assert!(bytes < 200_000, "{bytes}");
        let cache = MemberAnchors::new(1000, 4096 * 1024);
        let entry = Arc::new(Entry {
            bytes,
            anchors: anchors(1000),
        });
        cache
            .cache
            .insert(("ORG-1".into(), MemberOrder::Email), entry);
        assert_eq!(cache.len(), 1);
    }
}
