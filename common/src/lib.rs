//! cchc-common: the domain of commune-police administrative reform (CCHC) and the
//! CRDT machinery both the agent and the hub build on. This crate never does I/O: no
//! files, no clock, no network. Callers pass in text and time.
//!
//! Layers, each in its own module: [`lang`] and [`error`] (messages), [`units`],
//! [`period`], [`score`], [`text`], [`definitions`] (the domain vocabulary), [`kpi`]
//! (the key figures and their rates), [`hlc`]
//! (time), [`op`] (the versioned op envelope), [`crdt`] (objects and `apply_op`),
//! [`merge`] (the rules for integrating a peer's ops), [`rollout`] (where a commune
//! stands in its phase), [`plan`] (the rollout plan as typed or as a CSV file), [`state`] (an in-memory replica),
//! [`sync`] (the agent–hub protocol), [`codec`] (the compact binary form of op batches), [`bundle`] (the USB file form of the same),
//! [`auth`] (enrollment codes and request signatures), [`release`] (the rules for
//! trusting signed release metadata), [`update`] (signed definitions, release bundles,
//! offers and reports) and [`view`] (the `show --json` document).
#![deny(missing_docs)]

pub mod auth;
pub mod bundle;
pub mod codec;
pub mod crdt;
pub mod definitions;
pub mod error;
pub mod hlc;
pub mod kpi;
pub mod lang;
pub mod merge;
pub mod op;
pub mod period;
pub mod plan;
pub mod release;
pub mod rollout;
pub mod score;
pub mod state;
pub mod sync;
pub mod text;
pub mod units;
pub mod update;
pub mod view;

pub use definitions::{Definitions, Metric};
pub use error::DomainError;
pub use lang::{Lang, Localize};
pub use op::{ActorId, Op, OpBody, OpId};
pub use period::{Date, Period};
pub use score::Score;
pub use units::{UnitCatalog, UnitCode};
