//! Types-only stand-in; the real announcer lands from the `wire` branch.
use crate::stats::Counters;
use crossbeam_channel::Sender;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

pub struct AnnouncerConfig {
    pub trackers: Vec<Vec<String>>,
    pub info_hash: [u8; 20],
    pub peer_id: [u8; 20],
    pub port: u16,
    pub numwant: u32,
}
pub enum Command {
    Completed,
    NeedPeers,
    Stop,
}
pub enum Report {
    Announced {
        tracker: String,
        peers: usize,
        seeders: Option<u32>,
        leechers: Option<u32>,
    },
    Failed {
        tracker: String,
        error: String,
    },
    AllFailed {
        last_error: String,
    },
}
pub fn spawn(
    _config: AnnouncerConfig,
    _counters: Arc<Counters>,
    _peers: Sender<Vec<SocketAddr>>,
    _reports: Sender<Report>,
) -> std::io::Result<(JoinHandle<()>, Sender<Command>)> {
    let (tx, rx) = crossbeam_channel::unbounded::<Command>();
    Ok((
        std::thread::spawn(move || {
            while let Ok(c) = rx.recv() {
                if matches!(c, Command::Stop) {
                    break;
                }
            }
        }),
        tx,
    ))
}
