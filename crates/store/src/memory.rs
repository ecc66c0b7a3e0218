//! An event store in one process's memory: every promise of [`EventStore`], no server. For a domain's tests (the
//! command loop given/when/then, a projection's rebuild) and for trying the kit without AWS; never for production
//! (nothing survives the process).

use crate::chain::Notary;
use crate::error::EventStoreError;
use crate::event::{NewEvent, Snapshot, StoredEvent};
use crate::personal::Vault;
use crate::receipt::Receipt;
use crate::sealing::prepare_append;
use crate::store::{EventPage, EventStore, Order, StreamCursor, Tail, MAX_EVENTS_PER_APPEND};
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};

/// Streams and receipts behind one lock (an append is atomic because it holds it).
#[derive(Debug, Default)]
pub struct InMemoryEventStore {
    inner: Mutex<Streams>,
    notary: Option<Arc<dyn Notary>>,
    vault: Option<Arc<dyn Vault>>,
}

#[derive(Debug, Default)]
struct Streams {
    streams: BTreeMap<String, BTreeMap<u64, Position>>,
    receipts: HashMap<String, Receipt>,
}

/// One event, and the snapshot its position carries.
#[derive(Debug)]
struct Position {
    event: StoredEvent,
    snapshot: Option<Snapshot>,
}

impl InMemoryEventStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Seal checkpoints with `notary` ([`crate::sealing`]).
    pub fn with_notary(mut self, notary: Arc<dyn Notary>) -> Self {
        self.notary = Some(notary);
        self
    }

    /// Seal personal values with `vault` ([`crate::personal`]).
    pub fn with_vault(mut self, vault: Arc<dyn Vault>) -> Self {
        self.vault = Some(vault);
        self
    }

    fn lock(&self) -> MutexGuard<'_, Streams> {
        // A panic while holding the lock cannot leave half an append: every write happens after its checks.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Streams {
    fn receipt_taken(&self, receipt: &Receipt) -> Result<(), EventStoreError> {
        match self.receipts.get(&receipt.id) {
            Some(existing) if !receipt.may_replace(existing) => {
                Err(EventStoreError::ReceiptTaken {
                    id: receipt.id.clone(),
                })
            }
            _ => Ok(()),
        }
    }
}

#[async_trait::async_trait]
impl EventStore for InMemoryEventStore {
    async fn append_with_receipt(
        &self,
        stream_id: &str,
        expected_version: u64,
        previous: Option<&StoredEvent>,
        events: &[NewEvent],
        snapshot: Option<&Snapshot>,
        receipt: Option<&Receipt>,
    ) -> Result<u64, EventStoreError> {
        let limit = MAX_EVENTS_PER_APPEND - usize::from(receipt.is_some());
        if events.len() > limit {
            return Err(EventStoreError::TooManyEvents {
                count: events.len(),
                limit,
            });
        }
        if events.is_empty() {
            return Ok(expected_version);
        }
        let new_version = expected_version + events.len() as u64;
        // Chained and sealed before the lock is taken (a seal may wait on a key service); checked again under it.
        let stored = prepare_append(
            self,
            stream_id,
            expected_version,
            previous,
            events,
            self.notary.as_deref(),
        )
        .await?;
        let mut inner = self.lock();
        if let Some(receipt) = receipt {
            inner.receipt_taken(receipt)?;
        }
        let stream = inner.streams.entry(stream_id.to_owned()).or_default();
        if stream
            .range(expected_version + 1..=new_version)
            .next()
            .is_some()
        {
            return Err(EventStoreError::WrongExpectedVersion {
                stream_id: stream_id.to_owned(),
                expected: expected_version,
                actual_at_least: expected_version + 1,
            });
        }
        for event in stored {
            let version = event.version;
            let snapshot = snapshot.filter(|_| version == new_version).cloned();
            stream.insert(version, Position { event, snapshot });
        }
        if let Some(receipt) = receipt {
            inner.receipts.insert(receipt.id.clone(), receipt.clone());
        }
        Ok(new_version)
    }

    fn vault(&self) -> Option<&dyn Vault> {
        self.vault.as_deref()
    }

    async fn remember(&self, receipt: &Receipt) -> Result<(), EventStoreError> {
        let mut inner = self.lock();
        inner.receipt_taken(receipt)?;
        inner.receipts.insert(receipt.id.clone(), receipt.clone());
        Ok(())
    }

    async fn receipt(&self, id: &str) -> Result<Option<Receipt>, EventStoreError> {
        Ok(self.lock().receipts.get(id).cloned())
    }

    async fn load_tail_up_to(
        &self,
        stream_id: &str,
        up_to: Option<u64>,
        _page_size: i32,
    ) -> Result<Tail, EventStoreError> {
        let inner = self.lock();
        let mut tail = Tail::default();
        let Some(stream) = inner.streams.get(stream_id) else {
            return Ok(tail);
        };
        if up_to == Some(0) {
            return Ok(tail);
        }
        let end = up_to.map_or(Bound::Unbounded, Bound::Included);
        for (version, position) in stream.range((Bound::Included(1), end)).rev() {
            tail.items_read += 1;
            if tail.newest.is_none() {
                tail.newest = Some(position.event.clone());
            }
            if let Some(snapshot) = &position.snapshot {
                tail.snapshot = Some((*version, snapshot.clone()));
                break;
            }
            tail.events.push(position.event.clone());
        }
        tail.events.reverse();
        Ok(tail)
    }

    async fn load_event(
        &self,
        stream_id: &str,
        version: u64,
    ) -> Result<Option<StoredEvent>, EventStoreError> {
        Ok(self
            .lock()
            .streams
            .get(stream_id)
            .and_then(|stream| stream.get(&version))
            .map(|position| position.event.clone()))
    }

    async fn load_between(
        &self,
        stream_id: &str,
        after_version: u64,
        up_to: Option<u64>,
    ) -> Result<Vec<StoredEvent>, EventStoreError> {
        let inner = self.lock();
        let Some(stream) = inner.streams.get(stream_id) else {
            return Ok(Vec::new());
        };
        let end = up_to.map_or(Bound::Unbounded, Bound::Included);
        if up_to.is_some_and(|up_to| up_to <= after_version) {
            return Ok(Vec::new());
        }
        Ok(stream
            .range((Bound::Excluded(after_version), end))
            .map(|(_, position)| position.event.clone())
            .collect())
    }

    async fn page(
        &self,
        stream_id: &str,
        order: Order,
        after: Option<u64>,
        limit: i32,
    ) -> Result<EventPage, EventStoreError> {
        let limit = usize::try_from(limit.max(1)).unwrap_or(1);
        let inner = self.lock();
        let Some(stream) = inner.streams.get(stream_id) else {
            return Ok(EventPage::default());
        };
        let events = |iter: &mut dyn Iterator<Item = &Position>| {
            let mut events: Vec<StoredEvent> =
                iter.take(limit + 1).map(|p| p.event.clone()).collect();
            let more = events.len() > limit;
            events.truncate(limit);
            EventPage { events, more }
        };
        Ok(match order {
            Order::OldestFirst => events(
                &mut stream
                    .range((Bound::Excluded(after.unwrap_or(0)), Bound::Unbounded))
                    .map(|(_, p)| p),
            ),
            Order::NewestFirst if after.is_some_and(|before| before <= 1) => EventPage::default(),
            Order::NewestFirst => {
                let end = after.map_or(Bound::Unbounded, Bound::Excluded);
                events(
                    &mut stream
                        .range((Bound::Included(1), end))
                        .rev()
                        .map(|(_, p)| p),
                )
            }
        })
    }

    async fn streams_page(
        &self,
        start: Option<&StreamCursor>,
        page_size: i32,
    ) -> Result<(Vec<String>, Option<StreamCursor>), EventStoreError> {
        Ok(self.streams_where(start, page_size, |stream| stream.contains_key(&1)))
    }

    async fn stream_ids_page(
        &self,
        start: Option<&StreamCursor>,
        page_size: i32,
    ) -> Result<(Vec<String>, Option<StreamCursor>), EventStoreError> {
        Ok(self.streams_where(start, page_size, |stream| !stream.is_empty()))
    }
}

impl InMemoryEventStore {
    /// A page of the streams `keep` accepts, after `start`.
    fn streams_where(
        &self,
        start: Option<&StreamCursor>,
        page_size: i32,
        keep: impl Fn(&BTreeMap<u64, Position>) -> bool,
    ) -> (Vec<String>, Option<StreamCursor>) {
        let page_size = usize::try_from(page_size.max(1)).unwrap_or(1);
        let inner = self.lock();
        let from = start.map_or(Bound::Unbounded, |c| Bound::Excluded(c.stream_id.clone()));
        let mut streams: Vec<String> = inner
            .streams
            .range((from, Bound::Unbounded))
            .filter(|(_, stream)| keep(stream))
            .map(|(id, _)| id.clone())
            .take(page_size + 1)
            .collect();
        let next = (streams.len() > page_size).then(|| {
            streams.truncate(page_size);
            StreamCursor {
                stream_id: streams.last().cloned().unwrap_or_default(),
                version: 1,
            }
        });
        (streams, next)
    }
}
