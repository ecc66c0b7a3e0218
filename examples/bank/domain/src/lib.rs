//! The example domain: a bank account as a pure Decider (open, deposit, withdraw, close), and transfers between
//! accounts (a second aggregate and the process that moves the money).
//!
//! Replace this crate with your own domain: the infrastructure only needs [`tributary_core::Decider`].
//! Amounts are integer minor units (cents for EUR); every value is validated when it is constructed, so the
//! decider only ever sees well-formed commands.

pub mod account;
pub mod standing_order;
pub mod transfer;
pub mod transfer_process;
pub mod values;
pub mod views;

pub use account::{Account, AccountCommand, AccountEvent, AccountRejection, AccountState};
pub use transfer::{Transfer, TransferCommand, TransferEvent, TransferRejection, TransferState};
pub use values::{
    AccountId, Amount, Currency, HolderName, InvalidValue, Principal, TransferId, MAX_AMOUNT,
    MAX_BALANCE,
};
