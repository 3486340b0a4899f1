//! Members' processes as GetProcessDetail answers them, kept in memory between reads.
//!
//! A copy is answered only when it is as new as the database: before each read the change feed
//! catches up (every change committed before the read arrived has evicted its member's copy), and
//! a copy read while a change arrived is not kept. Every writer's commit reaches the feed through
//! the database itself (a trigger on PostgreSQL, `data_version` on SQLite), so writes of another
//! replica, of an older version, or by hand in SQL are all seen. Without a feed nothing is kept.
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::Service;
use super::error::DomainError;
use super::model::Process;
use super::ports::ChangeSink;
use super::values::MemberNo;

/// How many members' processes are kept by default (10,000 seeded members with every field filled
/// kept: 3.4 MiB more RSS than none, measured with the bench's load).
pub const READ_CACHE_DEFAULT_ENTRIES: usize = 10_000;

pub struct ReadCache {
    inner: Mutex<Inner>,
    capacity: usize,
    /// Reads answered from a copy, and reads that went to the database (for metrics and tests).
    hits: AtomicU64,
    misses: AtomicU64,
}

struct Inner {
    /// Goes up at every change: a copy read before a change arrived is not kept.
    epoch: u64,
    entries: HashMap<String, Arc<Process>>,
}

impl ReadCache {
    /// A cache of at most `capacity` processes; 0 keeps nothing.
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner { epoch: 0, entries: HashMap::new() }),
            capacity,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Nothing in the critical sections can panic half-way; a poisoned lock holds whole data.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The epoch to hand back to `keep`, taken before the database is read.
    pub fn epoch(&self) -> u64 {
        self.lock().epoch
    }

    pub fn get(&self, member: &MemberNo) -> Option<Arc<Process>> {
        self.look_up(member).ok()
    }

    /// The member's copy, or the epoch to hand back to `keep` when there is none: one lock for
    /// both on the read path.
    fn look_up(&self, member: &MemberNo) -> Result<Arc<Process>, u64> {
        let inner = self.lock();
        inner.entries.get(member.as_str()).cloned().ok_or(inner.epoch)
    }

    /// Keeps `process`, read after `epoch` was taken, unless a change arrived since.
    pub fn keep(&self, epoch: u64, process: Arc<Process>) {
        let mut inner = self.lock();
        if inner.epoch != epoch || self.capacity == 0 {
            return;
        }
        if inner.entries.len() >= self.capacity && !inner.entries.contains_key(process.member_no().as_str()) {
            // Full: one arbitrary copy goes (the next read of it reads the database).
            if let Some(victim) = inner.entries.keys().next().cloned() {
                inner.entries.remove(&victim);
            }
        }
        inner.entries.insert(process.member_no().as_str().to_owned(), process);
    }

    /// (reads answered from a copy, reads that went to the database) since start.
    pub fn counts(&self) -> (u64, u64) {
        (self.hits.load(Ordering::Relaxed), self.misses.load(Ordering::Relaxed))
    }

    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ChangeSink for ReadCache {
    fn changed(&self, member_no: &str) {
        let mut inner = self.lock();
        inner.epoch += 1;
        inner.entries.remove(member_no);
    }

    fn changed_all(&self) {
        let mut inner = self.lock();
        inner.epoch += 1;
        // Freed outside the lock and off the caller's thread: a full cache is some hundreds of
        // thousands of allocations, and the caller (a read's catch-up check on SQLite) holds the
        // feed's lock meanwhile.
        let gone = std::mem::take(&mut inner.entries);
        drop(inner);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) if !gone.is_empty() => drop(runtime.spawn_blocking(move || drop(gone))),
            _ => drop(gone),
        }
    }
}

impl Service {
    /// The member's process as GetProcessDetail answers it: read with the member's evidence records
    /// in one round trip and the certificates' statuses checked, or the copy kept of that when the
    /// change feed says it is still current. NOT_STARTED (never kept) when there is no record.
    pub async fn process_detail(&self, member: &MemberNo) -> Result<Arc<Process>, DomainError> {
        let cache = &self.reads.cache;
        let cached = match &self.reads.feed {
            Some(feed) => feed.caught_up().await,
            None => false,
        };
        // With the feed caught up: the copy, or the epoch under which what is read may be kept.
        let keep_at = if cached {
            match cache.look_up(member) {
                Ok(process) => {
                    cache.hits.fetch_add(1, Ordering::Relaxed);
                    return Ok(process);
                }
                Err(epoch) => Some(epoch),
            }
        } else {
            None
        };
        cache.misses.fetch_add(1, Ordering::Relaxed);
        // Boxed: the store's future is large, and a copy answers most reads without it.
        Box::pin(self.read_and_keep(member, keep_at)).await
    }

    /// Reads the member's process and keeps it under `keep_at` (an epoch), if given.
    async fn read_and_keep(&self, member: &MemberNo, keep_at: Option<u64>) -> Result<Arc<Process>, DomainError> {
        let Some((mut process, chain)) = self.store.process_with_evidence(member).await? else {
            return Ok(Arc::new(Process::not_started(member.clone())));
        };
        self.fill_cert_status(&mut process, &chain);
        let process = Arc::new(process);
        if let Some(epoch) = keep_at {
            self.reads.cache.keep(epoch, process.clone());
        }
        Ok(process)
    }

    /// The processes kept between reads.
    pub fn read_cache(&self) -> &ReadCache {
        &self.reads.cache
    }
}

/// The read cache and the feed that keeps it current (`Service::with_reads`).
#[derive(Clone)]
pub struct Reads {
    pub cache: Arc<ReadCache>,
    pub feed: Option<Arc<dyn super::ports::ChangeFeed>>,
}

impl Default for Reads {
    /// No feed: every read reads the database.
    fn default() -> Self {
        Self { cache: Arc::new(ReadCache::new(0)), feed: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(member: &str) -> Arc<Process> {
        Arc::new(Process::not_started(MemberNo::parse(member).expect("member")))
    }

    #[test]
    fn a_copy_read_before_a_change_arrived_is_not_kept() {
        let cache = ReadCache::new(10);
        let epoch = cache.epoch();
        cache.changed("ETC000000002");
        cache.keep(epoch, process("ETC000000001"));
        assert!(cache.is_empty(), "any change since the epoch was taken may be in the copy's past");
        cache.keep(cache.epoch(), process("ETC000000001"));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn a_change_evicts_the_member_and_changed_all_everyone() {
        let cache = ReadCache::new(10);
        for m in ["ETC000000001", "ETC000000002", "ETC000000003"] {
            cache.keep(cache.epoch(), process(m));
        }
        cache.changed("ETC000000002");
        let member = |m: &str| MemberNo::parse(m).expect("member");
        assert!(cache.get(&member("ETC000000002")).is_none());
        assert!(cache.get(&member("ETC000000001")).is_some());
        cache.changed_all();
        assert!(cache.is_empty());
    }

    #[test]
    fn it_never_holds_more_than_its_capacity() {
        let cache = ReadCache::new(2);
        for i in 0..5 {
            cache.keep(cache.epoch(), process(&format!("ETC00000000{i}")));
        }
        assert_eq!(cache.len(), 2);
        let none = ReadCache::new(0);
        none.keep(none.epoch(), process("ETC000000001"));
        assert!(none.is_empty(), "capacity 0 keeps nothing");
    }
}
