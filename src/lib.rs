//! smalltorrent: a small, synchronous BitTorrent client.
//!
//! The modules mirror the thread diagram in `ARCHITECTURE.md`, whose "Read first" section
//! lists the files of the download path in reading order.
//!
//! * **The core, the download path**: how a block travels from a peer's socket to the
//!   disk, and how a piece is verified.
//! * **Around the core**: what a real client needs besides (trackers, the listener, the
//!   choker, resume, progress and the terminal, encryption, magnet links), each behind one
//!   small interface; and the hooks the extras plug into ([`transcript`],
//!   `download::Watcher`).
//! * **Extras** ([`extras`]): the demo, the trace, `create`, `info`, the tracker server.
//!   Each joins the core through one narrow interface; nothing in the core names them.
//! * **The command line** ([`cli`]): turns arguments into one of the above.

// ─── The core: the download path ───────────────────────────────────────────────────────
pub mod bencode;
pub mod bitfield;
pub mod block_pool;
pub mod block_saver;
pub mod download;
pub mod geometry;
pub mod metainfo;
pub mod peer;
pub mod peer_manager;
pub mod piece_manager;
pub mod storage;
pub mod wire;

// ─── Around the core ───────────────────────────────────────────────────────────────────
pub mod announcer;
pub mod choker;
pub mod dht;
pub mod extension;
pub mod hash_pool;
pub mod listener;
pub mod magnet;
pub mod metadata;
pub mod mse;
pub mod net;
pub mod progress;
pub mod random;
pub mod rate_limit;
pub mod resume;
pub mod selection;
pub mod stats;
pub mod super_seed;
pub mod terminal;
pub mod threads;
pub mod tracker;
pub mod transcript;
pub mod verify;
pub mod web_seed;

// ─── Extras, and the command line ──────────────────────────────────────────────────────
pub mod cli;
pub mod extras;
