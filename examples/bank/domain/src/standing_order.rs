//! A standing order: a transfer its owner asks for on a schedule (the kit's `tributary-scheduler` keeps the
//! schedule; each occurrence is a transfer requested as the owner, refused like any transfer when the money is
//! short, with the refusal on the statement).

use crate::values::{AccountId, Amount};
use serde::{Deserialize, Serialize};

/// The kind of scheduled command a standing order is (what the scheduler's dispatch recognises).
pub const KIND: &str = "standing-order";

/// What each occurrence of a standing order pays: `amount` from `from` (the owner's) to `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StandingOrder {
    pub from: AccountId,
    pub to: AccountId,
    pub amount: Amount,
}
