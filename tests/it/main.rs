//! End-to-end tests: real `cchc-agent` processes on real SQLite files.
//! One binary (`autotests = false`) so the binaries are built once.

mod auth;
mod bad_input;
mod bad_peers;
mod clock;
mod crash;
mod dashboard;
mod desks;
mod faults;
mod first_day;
mod fixtures;
mod hostile_clients;
mod hostile_text;
mod national;
mod packages;
mod release;
mod rollout;
mod stores;
mod sync;
mod ui;
mod ui_browser;
mod ui_sync;
mod update;
mod update_refusals;
mod windows;
