//! HTTP scrape (BEP 48): how many seeders, leechers and finished downloads a tracker counts
//! for a torrent. UDP scrape is in [`super::udp_client`].
//!
//! The scrape URL comes from the announce URL by the convention every tracker follows: the
//! last path element must start with `announce`, which is replaced by `scrape`
//! (`http://t/x/announce.php?k=1` → `http://t/x/scrape.php?k=1`). A tracker whose URL does
//! not fit has no scrape ([`TrackerError::Unsupported`]).

use super::http::{get, percent_encode};
use super::{ScrapeStats, TrackerError};
use crate::bencode::{self, Value};
use std::time::Duration;

/// The scrape URL for announce URL `announce`, or `None` when it has none.
pub fn scrape_url(announce: &str) -> Option<String> {
    let path_end = announce.find('?').unwrap_or(announce.len());
    let slash = announce[..path_end].rfind('/')?;
    // The slash must be in the path, not the `//` after the scheme.
    if announce[..slash].ends_with('/') || !announce[..slash].contains("://") {
        return None;
    }
    let rest = announce[slash + 1..].strip_prefix("announce")?;
    Some(format!("{}/scrape{rest}", &announce[..slash]))
}

/// Scrapes one torrent from the HTTP tracker whose announce URL is `announce`.
pub fn http_scrape(
    announce: &str,
    info_hash: &[u8; 20],
    timeout: Duration,
) -> Result<ScrapeStats, TrackerError> {
    let Some(base) = scrape_url(announce) else {
        return Err(TrackerError::Unsupported {
            url: announce.to_owned(),
            what: "no scrape URL (the announce URL does not end in /announce)",
        });
    };
    let mut url = base.clone();
    url.push(if base.contains('?') { '&' } else { '?' });
    url.push_str("info_hash=");
    percent_encode(&mut url, info_hash);
    let body = get(announce, &url, timeout)?;
    parse_scrape_body(&body, info_hash).map_err(|e| e.at(announce))
}

/// Reads a scrape reply `d5:filesd20:<hash>d8:completei..e10:downloadedi..e10:incompletei..eeee`
/// for `info_hash`. A reply that does not list the torrent counts as an empty swarm, as
/// trackers answer that way for torrents they have never seen.
pub fn parse_scrape_body(body: &[u8], info_hash: &[u8; 20]) -> Result<ScrapeStats, TrackerError> {
    let reply = bencode::decode(body)
        .map_err(|e| TrackerError::bad_reply(format!("not a bencoded reply ({e})")))?;
    if let Some(reason) = reply.get("failure reason") {
        let reason = reason.as_bytes().unwrap_or(b"(no reason given)");
        return Err(TrackerError::Failure {
            url: String::new(),
            reason: String::from_utf8_lossy(reason).into_owned(),
        });
    }
    let Some(files) = reply.get("files").and_then(Value::as_dict) else {
        return Err(TrackerError::bad_reply(
            "scrape reply without a `files` dictionary",
        ));
    };
    let Some((_, entry)) = files.iter().find(|(key, _)| *key == info_hash) else {
        return Ok(ScrapeStats::default());
    };
    let count = |key: &str| {
        let n = entry.get(key).and_then(Value::as_int).unwrap_or(0);
        u32::try_from(n.max(0)).unwrap_or(u32::MAX)
    };
    Ok(ScrapeStats {
        seeders: count("complete"),
        completed: count("downloaded"),
        leechers: count("incomplete"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrape_url_follows_the_announce_convention() {
        let cases = [
            ("http://t/announce", Some("http://t/scrape")),
            ("http://t/x/announce", Some("http://t/x/scrape")),
            ("http://t/announce.php", Some("http://t/scrape.php")),
            ("http://t/announce?k=1/2", Some("http://t/scrape?k=1/2")),
            ("http://t/x/announce?a=b", Some("http://t/x/scrape?a=b")),
            ("http://t/a", None),
            ("http://t/announce/x", None),
            ("http://t/x%064announce", None),
            ("http://announce", None),
            ("announce", None),
            ("", None),
        ];
        for (announce, expected) in cases {
            assert_eq!(scrape_url(announce).as_deref(), expected, "{announce}");
        }
    }

    #[test]
    fn scrape_body_gives_the_torrents_counts() {
        let hash = [b'h'; 20];
        let body =
            b"d5:filesd20:hhhhhhhhhhhhhhhhhhhhd8:completei3e10:downloadedi7e10:incompletei5eeee";
        assert_eq!(
            parse_scrape_body(body, &hash).unwrap(),
            ScrapeStats {
                seeders: 3,
                completed: 7,
                leechers: 5
            }
        );
        // Another torrent only: an empty swarm.
        assert_eq!(
            parse_scrape_body(b"d5:filesdee", &hash).unwrap(),
            ScrapeStats::default()
        );
    }

    #[test]
    fn bad_scrape_bodies_are_errors() {
        let hash = [0; 20];
        for (body, expected) in [
            (&b"<html>"[..], "not a bencoded reply"),
            (b"de", "without a `files`"),
            (b"d14:failure reason4:nopee", "refused: nope"),
        ] {
            let error = parse_scrape_body(body, &hash).unwrap_err().to_string();
            assert!(error.contains(expected), "{error}");
        }
    }
}
