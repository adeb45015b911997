//! The routing table kept between runs: our node id and the nodes we knew, so a second run
//! does not depend on the bootstrap routers.
//!
//! The file is our 20-byte id, then 26 bytes per node (id, IPv4, port), written atomically
//! at most every 10 minutes and at exit (SD cards on small machines wear out). Saved nodes
//! are only candidates at the next start: each must answer a ping to enter the table.

use super::id::Id;
use super::krpc::peer;
use std::net::SocketAddrV4;
use std::path::Path;

/// Nodes read from the file at most.
const MAX_NODES: usize = 2_000;

/// Our id and the saved nodes, if the file is there and well-formed.
pub fn load(path: &Path) -> Option<(Id, Vec<(Id, SocketAddrV4)>)> {
    let bytes = std::fs::read(path).ok()?;
    if bytes.len() < 20 || (bytes.len() - 20) % 26 != 0 {
        log::warn!(
            "dht: {} is not a saved table; starting afresh",
            path.display()
        );
        return None;
    }
    let own = Id::from_slice(&bytes[..20])?;
    let nodes = bytes[20..]
        .chunks_exact(26)
        .take(MAX_NODES)
        .filter_map(|entry| Some((Id::from_slice(&entry[..20])?, peer(&entry[20..])?)))
        .collect();
    Some((own, nodes))
}

/// Writes our id and `nodes` to `path` atomically; a failure is logged, not fatal. The
/// folder above `path`'s own (the download folder) must exist: a run that wrote nothing
/// else (a magnet link whose metadata never came) leaves nothing behind.
pub fn save(path: &Path, own: Id, nodes: &[(Id, SocketAddrV4)]) {
    if path
        .parent()
        .and_then(Path::parent)
        .is_some_and(|dir| !dir.is_dir())
    {
        log::debug!("dht: table not saved: {} has no folder", path.display());
        return;
    }
    let mut bytes = own.0.to_vec();
    for (id, addr) in nodes {
        bytes.extend_from_slice(&id.0);
        bytes.extend_from_slice(&addr.ip().octets());
        bytes.extend_from_slice(&addr.port().to_be_bytes());
    }
    if let Err(e) = crate::resume::write_atomically(path, &bytes) {
        log::warn!("dht: table not saved: {e}");
    }
}
