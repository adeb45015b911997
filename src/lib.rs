//! smalltorrent: a small, synchronous BitTorrent client.
//!
//! The modules mirror the thread diagram in `ARCHITECTURE.md`:
//!
//! * pure layers (no threads, no sockets): [`bencode`], [`metainfo`], [`geometry`],
//!   [`wire`], [`mse`] (the encryption handshake), [`tracker`] reply parsing;
//! * one module per thread: [`announcer`], [`peer_manager`], [`peer`], [`block_saver`]
//!   (and its [`block_saver::hasher`]);
//! * shared state with a single owner: [`piece_manager`] (block states), [`storage`]
//!   (the memory-mapped files);
//! * the main thread: [`cli`], [`download`] (and its [`observer`]), [`progress`], [`info`],
//!   [`terminal`] (the size and redraw of the live displays);
//! * study tools: [`trace`] (`--trace`, `trace-summary`), [`demo`] (a local swarm);
//! * making torrents: [`create`].
//! * the tracker server (`smalltorrent tracker`): [`tracker_server`].

pub mod announcer;
pub mod bencode;
pub mod bitfield;
pub mod block_saver;
pub mod choker;
pub mod cli;
pub mod create;
pub mod demo;
pub mod download;
pub mod geometry;
pub mod info;
pub mod listener;
pub mod metainfo;
pub mod mse;
pub mod net;
pub mod observer;
pub mod peer;
pub mod peer_manager;
pub mod piece_manager;
pub mod progress;
pub mod random;
pub mod rate_limit;
pub mod resume;
pub mod stats;
pub mod storage;
pub mod terminal;
pub mod trace;
pub mod tracker;
pub mod tracker_server;
pub mod verify;
pub mod wire;
