//! What every benchmark of Tributary measures with: a closed loop of workers timing each operation until a
//! deadline ([`run`]), the outcome counts and latency percentiles of one measured cell ([`Cell`], JSON), and small
//! statistics helpers ([`stats`]). The harness (`infra/bench`) and the peer comparison (`infra/bench-peer`, a build
//! of its own) share it, so both sides of a comparison are measured the same way.

mod run;
pub mod stats;

pub use run::{run, Cell, Outcome, Workload};
