//! `smalltorrent info MAGNET`: what a magnet link holds, as text for people or JSON for
//! programs, in the same layout as a torrent's report.
//!
//! A link carries only the info-hash and hints (name, length, trackers, peers); the file
//! list and the pieces arrive with the metadata, from a peer. The text says so on its
//! `Files:` line; the JSON has `"files": null`.

use super::{json_string, json_strings, size_with_bytes};
use crate::magnet::Magnet;
use crate::metainfo::hex;
use std::fmt::Write;

/// What is shown for a field the link does not give.
const ABSENT: &str = "(not in the link)";

/// The human-readable report.
pub fn render_text(magnet: &Magnet) -> String {
    let mut out = String::new();
    let name = magnet.name.as_deref().unwrap_or(ABSENT);
    let size = magnet.length.map_or(ABSENT.into(), size_with_bytes);
    let _ = writeln!(out, "Name:        {name}");
    let _ = writeln!(out, "Info hash:   {}", hex(&magnet.info_hash));
    let _ = writeln!(out, "Total size:  {size}");
    let _ = writeln!(out, "Trackers:");
    if magnet.trackers.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for (tier, url) in magnet.trackers.iter().enumerate() {
        let _ = writeln!(out, "  tier {}: {url}", tier + 1);
    }
    let _ = writeln!(out, "Peers:");
    if magnet.peers.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for peer in &magnet.peers {
        let _ = writeln!(out, "  {peer}");
    }
    let _ = writeln!(
        out,
        "Files:       not in a magnet link; known once the metadata is fetched from a peer"
    );
    out
}

/// The machine-readable report: one JSON object; `null` for what the link does not give.
pub fn render_json(magnet: &Magnet) -> String {
    let name = magnet.name.as_deref().map_or("null".into(), json_string);
    let length = magnet.length.map_or("null".into(), |n| n.to_string());
    let tiers: Vec<String> = magnet
        .trackers
        .iter()
        .map(|url| json_strings(std::slice::from_ref(url)))
        .collect();
    let mut out = String::from("{\n");
    let _ = writeln!(out, "  \"info_hash\": \"{}\",", hex(&magnet.info_hash));
    let _ = writeln!(out, "  \"name\": {name},");
    let _ = writeln!(out, "  \"total_length\": {length},");
    let _ = writeln!(out, "  \"trackers\": [{}],", tiers.join(", "));
    let _ = writeln!(out, "  \"peers\": {},", json_strings(&magnet.peers));
    let _ = writeln!(out, "  \"files\": null");
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a";

    fn full() -> Magnet {
        Magnet::parse(&format!(
            "magnet:?xt=urn:btih:{HEX}&dn=a%22b&xl=276134947&tr=udp://t:1&tr=http://u/a\
             &x.pe=10.0.0.2:6881&x.pe=[::1]:7"
        ))
        .unwrap()
    }

    fn bare() -> Magnet {
        Magnet::parse(&format!("magnet:?xt=urn:btih:{HEX}")).unwrap()
    }

    #[test]
    fn text_report() {
        assert_eq!(
            render_text(&full()),
            format!(
                "Name:        a\"b\n\
                 Info hash:   {HEX}\n\
                 Total size:  263.3 MiB (276134947 bytes)\n\
                 Trackers:\n  tier 1: udp://t:1\n  tier 2: http://u/a\n\
                 Peers:\n  10.0.0.2:6881\n  [::1]:7\n\
                 Files:       not in a magnet link; known once the metadata is fetched from a peer\n"
            )
        );
        assert_eq!(
            render_text(&bare()),
            format!(
                "Name:        (not in the link)\n\
                 Info hash:   {HEX}\n\
                 Total size:  (not in the link)\n\
                 Trackers:\n  (none)\n\
                 Peers:\n  (none)\n\
                 Files:       not in a magnet link; known once the metadata is fetched from a peer\n"
            )
        );
    }

    #[test]
    fn json_report() {
        assert_eq!(
            render_json(&full()),
            format!(
                r#"{{
  "info_hash": "{HEX}",
  "name": "a\"b",
  "total_length": 276134947,
  "trackers": [["udp://t:1"], ["http://u/a"]],
  "peers": ["10.0.0.2:6881", "[::1]:7"],
  "files": null
}}
"#
            )
        );
        assert_eq!(
            render_json(&bare()),
            format!(
                r#"{{
  "info_hash": "{HEX}",
  "name": null,
  "total_length": null,
  "trackers": [],
  "peers": [],
  "files": null
}}
"#
            )
        );
    }
}
