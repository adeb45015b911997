//! What smalltorrent offers besides downloading and seeding. None of it is on the
//! download path, and nothing in the core names these modules: each joins the core
//! through one narrow interface.
//!
//! * [`demo`] (`smalltorrent demo`): a whole swarm on loopback, drawn live. Runs one
//!   `download::run` per peer and watches each through the core's watcher interface.
//! * [`trace`] (`--trace FILE`, `trace-summary`): a JSONL transcript of every message,
//!   written through the core's transcript hooks.
//! * [`create`] (`smalltorrent create`): makes a `.torrent` from files.
//! * [`info`] (`smalltorrent info`): what a torrent or a magnet link holds, as text or
//!   JSON, and a scrape.
//! * [`tracker_server`] (`smalltorrent tracker`): an HTTP and UDP tracker.

pub mod create;
pub mod demo;
pub mod info;
pub mod trace;
pub mod tracker_server;
