//! The DHT (BEP 5): finding peers with no tracker, through a network of nodes that each
//! keep part of a shared table of who has which torrent.
//!
//! The pieces, each pure and tested on its own: node ids and XOR distance (`id.rs`), the
//! KRPC messages (`krpc.rs`), the routing table of k-buckets (`table.rs`), one iterative
//! lookup (`lookup.rs`), the announce tokens (`token.rs`) and the peers announced to us
//! (`store.rs`); and the table kept between runs (`saved.rs`). `node.rs` is the thread that
//! drives them: one UDP socket, nothing else touching its state.

pub mod id;
pub mod krpc;
pub mod lookup;
pub mod node;
pub mod saved;
pub mod store;
pub mod table;
pub mod token;

pub use node::{Command, Config, Node, Stats};

#[cfg(test)]
mod tests;
