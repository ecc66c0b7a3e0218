//! The [`EventStore`] trait: what the command loop, the read side and the operators' tools need from a store.

use crate::error::EventStoreError;
use crate::event::{NewEvent, Snapshot, StoredEvent};
use crate::personal::Vault;
use crate::receipt::Receipt;

/// The most items one atomic append writes: its events, and its receipt when it has one (DynamoDB's limit on a
/// transaction; every store keeps it, so a test on one store says what another would refuse).
pub const MAX_EVENTS_PER_APPEND: usize = 100;

/// The end of a stream as [`EventStore::load_tail`] reads it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tail {
    /// The newest snapshot, with the version of the event that carries it (the state after that event).
    pub snapshot: Option<(u64, Snapshot)>,
    /// The events after the snapshot (all of them without one), in version order.
    pub events: Vec<StoredEvent>,
    /// The newest event read (the one that carries the snapshot, when no event follows it).
    pub newest: Option<StoredEvent>,
    /// Items read (events, the one carrying the snapshot included): what the read cost.
    pub items_read: usize,
}

/// Where a scan of the streams goes on, serialisable so a rebuild can resume.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StreamCursor {
    pub stream_id: String,
    pub version: u64,
}

/// Which end of a stream a page of its events starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    OldestFirst,
    NewestFirst,
}

/// One page of a stream's events (the audit trail): the events, and whether more follow in that order.
#[derive(Debug, Clone, Default)]
pub struct EventPage {
    pub events: Vec<StoredEvent>,
    pub more: bool,
}

/// Event streams: versions 1, 2, 3, ... contiguous per stream, each written once.
///
/// The promises (checked for every store by the `contract` tests):
/// * an append is all or nothing, and only if none of its versions is taken
///   ([`EventStoreError::WrongExpectedVersion`]); at most [`MAX_EVENTS_PER_APPEND`] items, its receipt included;
/// * an append's receipt is written with its events, unless a live receipt holds its id
///   ([`EventStoreError::ReceiptTaken`], nothing written); an expired one may be written over;
/// * reads that serve a command ([`load_tail_up_to`](Self::load_tail_up_to), [`load_between`](Self::load_between),
///   [`load_event`](Self::load_event), [`receipt`](Self::receipt)) see every append that answered before them;
/// * a snapshot is read back with the event that carries it, and a tail stops there.
#[async_trait::async_trait]
pub trait EventStore: Send + Sync + std::fmt::Debug {
    /// Append `events` to `stream_id`, which the caller last saw at `expected_version` (0 for a new stream), the
    /// last event carrying `snapshot` (the state after it; a store may drop a snapshot it cannot keep) and, in the
    /// same write, the command's `receipt`. All or nothing. Returns the stream's new version.
    ///
    /// The events are chained to the event at `expected_version` (`previous`: that event as the caller read it;
    /// `None` and the store reads it) and sealed where a checkpoint is due ([`crate::sealing`]).
    async fn append_with_receipt(
        &self,
        stream_id: &str,
        expected_version: u64,
        previous: Option<&StoredEvent>,
        events: &[NewEvent],
        snapshot: Option<&Snapshot>,
        receipt: Option<&Receipt>,
    ) -> Result<u64, EventStoreError>;

    /// Write `receipt` alone (a remembered rejection: no event), unless a live receipt holds its id
    /// ([`EventStoreError::ReceiptTaken`]: read it for the answer).
    async fn remember(&self, receipt: &Receipt) -> Result<(), EventStoreError>;

    /// The receipt recorded under `id`, if any, live or expired.
    async fn receipt(&self, id: &str) -> Result<Option<Receipt>, EventStoreError>;

    /// The newest events of a stream up to its event `up_to` (`None`: the head), back to the newest one at or below
    /// it that carries a snapshot, reading `page_size` items a request: a bounded read whatever the stream's length,
    /// once snapshots are written. Without any snapshot it reads the whole stream.
    async fn load_tail_up_to(
        &self,
        stream_id: &str,
        up_to: Option<u64>,
        page_size: i32,
    ) -> Result<Tail, EventStoreError>;

    /// The event at `version` of a stream, if there is one.
    async fn load_event(
        &self,
        stream_id: &str,
        version: u64,
    ) -> Result<Option<StoredEvent>, EventStoreError>;

    /// The events of a stream after `after_version` up to `up_to` (inclusive; `None`: the head), in version order.
    async fn load_between(
        &self,
        stream_id: &str,
        after_version: u64,
        up_to: Option<u64>,
    ) -> Result<Vec<StoredEvent>, EventStoreError>;

    /// Up to `limit` events of a stream in `order`, after the version `after` in that order (`None`: from the
    /// start). May lag the latest appends a little (an audit read, not a command's).
    async fn page(
        &self,
        stream_id: &str,
        order: Order,
        after: Option<u64>,
        limit: i32,
    ) -> Result<EventPage, EventStoreError>;

    /// One page of the store's streams (each stream once over all pages, in no stated order; receipts are not
    /// streams), for rebuilds that must enumerate every stream: a rebuild's cost, never a request path's.
    async fn streams_page(
        &self,
        start: Option<&StreamCursor>,
        page_size: i32,
    ) -> Result<(Vec<String>, Option<StreamCursor>), EventStoreError>;

    /// One page of the streams of every event in the store, whatever of each stream is left (a stream whose first
    /// event was deleted included; receipts are not streams): for audits that must find every stream. A stream may
    /// appear on several pages (the caller keeps the ones it has seen); a whole-table read, never a request path's.
    async fn stream_ids_page(
        &self,
        start: Option<&StreamCursor>,
        page_size: i32,
    ) -> Result<(Vec<String>, Option<StreamCursor>), EventStoreError>;

    /// The vault this store seals personal values with ([`crate::personal`]); `None`: it refuses events that hold
    /// any.
    fn vault(&self) -> Option<&dyn Vault> {
        None
    }

    /// [`append_with_receipt`](Self::append_with_receipt) without a snapshot or a receipt.
    async fn append(
        &self,
        stream_id: &str,
        expected_version: u64,
        events: &[NewEvent],
    ) -> Result<u64, EventStoreError> {
        self.append_with_receipt(stream_id, expected_version, None, events, None, None)
            .await
    }

    /// [`append_with_receipt`](Self::append_with_receipt) without a receipt.
    async fn append_with_snapshot(
        &self,
        stream_id: &str,
        expected_version: u64,
        events: &[NewEvent],
        snapshot: Option<&Snapshot>,
    ) -> Result<u64, EventStoreError> {
        self.append_with_receipt(stream_id, expected_version, None, events, snapshot, None)
            .await
    }

    /// [`load_tail_up_to`](Self::load_tail_up_to) at the head.
    async fn load_tail(&self, stream_id: &str, page_size: i32) -> Result<Tail, EventStoreError> {
        self.load_tail_up_to(stream_id, None, page_size).await
    }

    /// Every event of a stream, in version order.
    async fn load(&self, stream_id: &str) -> Result<Vec<StoredEvent>, EventStoreError> {
        self.load_between(stream_id, 0, None).await
    }

    /// The events of a stream after `after_version`, in version order.
    async fn load_after(
        &self,
        stream_id: &str,
        after_version: u64,
    ) -> Result<Vec<StoredEvent>, EventStoreError> {
        self.load_between(stream_id, after_version, None).await
    }
}

/// A shared store is a store: `&Arc<dyn EventStore>` goes wherever `&dyn EventStore` is asked for.
#[async_trait::async_trait]
impl<S: EventStore + ?Sized> EventStore for std::sync::Arc<S> {
    async fn append_with_receipt(
        &self,
        stream_id: &str,
        expected_version: u64,
        previous: Option<&StoredEvent>,
        events: &[NewEvent],
        snapshot: Option<&Snapshot>,
        receipt: Option<&Receipt>,
    ) -> Result<u64, EventStoreError> {
        (**self)
            .append_with_receipt(
                stream_id,
                expected_version,
                previous,
                events,
                snapshot,
                receipt,
            )
            .await
    }

    async fn remember(&self, receipt: &Receipt) -> Result<(), EventStoreError> {
        (**self).remember(receipt).await
    }

    fn vault(&self) -> Option<&dyn Vault> {
        (**self).vault()
    }

    async fn receipt(&self, id: &str) -> Result<Option<Receipt>, EventStoreError> {
        (**self).receipt(id).await
    }

    async fn load_tail_up_to(
        &self,
        stream_id: &str,
        up_to: Option<u64>,
        page_size: i32,
    ) -> Result<Tail, EventStoreError> {
        (**self).load_tail_up_to(stream_id, up_to, page_size).await
    }

    async fn load_event(
        &self,
        stream_id: &str,
        version: u64,
    ) -> Result<Option<StoredEvent>, EventStoreError> {
        (**self).load_event(stream_id, version).await
    }

    async fn load_between(
        &self,
        stream_id: &str,
        after_version: u64,
        up_to: Option<u64>,
    ) -> Result<Vec<StoredEvent>, EventStoreError> {
        (**self).load_between(stream_id, after_version, up_to).await
    }

    async fn page(
        &self,
        stream_id: &str,
        order: Order,
        after: Option<u64>,
        limit: i32,
    ) -> Result<EventPage, EventStoreError> {
        (**self).page(stream_id, order, after, limit).await
    }

    async fn streams_page(
        &self,
        start: Option<&StreamCursor>,
        page_size: i32,
    ) -> Result<(Vec<String>, Option<StreamCursor>), EventStoreError> {
        (**self).streams_page(start, page_size).await
    }

    async fn stream_ids_page(
        &self,
        start: Option<&StreamCursor>,
        page_size: i32,
    ) -> Result<(Vec<String>, Option<StreamCursor>), EventStoreError> {
        (**self).stream_ids_page(start, page_size).await
    }
}
