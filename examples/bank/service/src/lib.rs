//! The bank example as a service, on the kit's generic parts: the read models it keeps ([`read_models`]), reading
//! them ([`reads`]), the transfer process manager ([`transfers`]), and what its standing orders send
//! ([`standing_orders`]).

pub mod reads;
pub mod standing_orders;
pub mod transfers;

use bank_account::views::{AccountSummaries, AccountsByOwner, Statements, StatementsV2, Transfers};
use std::sync::Arc;
use tributary_projections::ReadModels;

/// Every read model of the bank (every version deployed), each fed by its own denormaliser (consumer group
/// `tributary-<label>`).
pub fn read_models() -> ReadModels {
    vec![
        Arc::new(AccountSummaries),
        Arc::new(Statements),
        Arc::new(StatementsV2),
        Arc::new(AccountsByOwner),
        Arc::new(Transfers),
    ]
}
