//! `smalltorrent info`: a torrent's metadata as text for people or JSON for programs.
//!
//! Both renderings show the same facts: name, info-hash, sizes, pieces, files (pad files
//! and symlinks marked), trackers by tier, web seeds, creation date, comment, creator and
//! the private flag, and the torrent's magnet link. The JSON is written by hand (there is
//! no serde here); [`json_string`] does the escaping. Dates are ISO-8601 in UTC, computed
//! from the Unix timestamp by [`iso8601_utc`]. A magnet link's report is in [`magnet`].

pub mod magnet;

use crate::metainfo::{FileEntry, FileKind, Metainfo};
use std::fmt::Write;

/// The human-readable report.
pub fn render_text(meta: &Metainfo) -> String {
    let mut out = String::new();
    let geometry = meta.geometry();
    let _ = writeln!(out, "Name:        {}", meta.name);
    let _ = writeln!(out, "Info hash:   {}", meta.info_hash_hex());
    let _ = writeln!(out, "Magnet:      {}", magnet_link(meta));
    let _ = writeln!(out, "Total size:  {}", size_with_bytes(meta.total_length));
    let _ = writeln!(
        out,
        "Pieces:      {} x {}",
        geometry.piece_count,
        size_with_bytes(u64::from(meta.piece_length))
    );
    let _ = writeln!(
        out,
        "Private:     {}",
        if meta.private { "yes" } else { "no" }
    );
    if let Some(date) = meta.creation_date {
        let _ = writeln!(out, "Created:     {}", iso8601_utc(date));
    }
    if let Some(created_by) = &meta.created_by {
        let _ = writeln!(out, "Created by:  {created_by}");
    }
    if let Some(comment) = &meta.comment {
        let _ = writeln!(out, "Comment:     {comment}");
    }
    let _ = writeln!(out, "Trackers:");
    if meta.trackers.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for (tier, urls) in meta.trackers.iter().enumerate() {
        let _ = writeln!(out, "  tier {}: {}", tier + 1, urls.join(", "));
    }
    if !meta.url_list.is_empty() {
        let _ = writeln!(out, "Web seeds:");
        for url in &meta.url_list {
            let _ = writeln!(out, "  {url}");
        }
    }
    // Numbered from 1, every entry counted: the numbers `--select` takes.
    let _ = writeln!(out, "Files ({}):", meta.files.len());
    let width = meta.files.len().to_string().len();
    for (number, file) in (1..).zip(&meta.files) {
        let _ = writeln!(
            out,
            "  {number:>width$}  {:>10}  {}",
            human_size(file.length),
            file_line(file)
        );
    }
    out
}

/// The magnet link other clients would print for this torrent.
fn magnet_link(meta: &Metainfo) -> String {
    crate::magnet::link(&meta.info_hash, &meta.name, &meta.trackers)
}

/// A file's path, with a marker for pad files and symlinks.
fn file_line(file: &FileEntry) -> String {
    let path = slash_path(&file.path);
    match &file.kind {
        FileKind::Regular => path,
        FileKind::Pad => format!("{path} [pad]"),
        FileKind::Symlink { target } => format!("{path} -> {} [symlink]", slash_path(target)),
    }
}

/// A relative path with `/` separators (our paths hold only normal components).
fn slash_path(path: &std::path::Path) -> String {
    let parts: Vec<_> = path.iter().map(|part| part.to_string_lossy()).collect();
    parts.join("/")
}

/// `256.0 MiB (268435456 bytes)`, or `425 bytes` below 1 KiB.
pub fn size_with_bytes(bytes: u64) -> String {
    if bytes < 1024 {
        return human_size(bytes);
    }
    format!("{} ({bytes} bytes)", human_size(bytes))
}

/// `425 bytes`, `16.0 KiB`, `4.9 GiB`: binary units with one decimal.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `2009-02-14T23:31:30Z` for a Unix timestamp; years outside 0..=9999 are shown as the
/// raw number (`@-99999999999999`), as no date format covers them.
pub fn iso8601_utc(timestamp: i64) -> String {
    let days = timestamp.div_euclid(86_400);
    let seconds = timestamp.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    if !(0..=9999).contains(&year) {
        return format!("@{timestamp}");
    }
    let (hour, minute, second) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z")
}

/// Year, month, day of the day `days` after 1970-01-01 in the proleptic Gregorian
/// calendar (Howard Hinnant's `civil_from_days`). Exact for every `days` an `i64`
/// timestamp can give: `|days| < 2^47`, far from overflow.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z.div_euclid(146_097); // 400-year cycles
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153; // 0 = March
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The machine-readable report: one JSON object.
pub fn render_json(meta: &Metainfo) -> String {
    let geometry = meta.geometry();
    let optional = |text: &Option<String>| text.as_deref().map_or("null".into(), json_string);
    let date = meta.creation_date;
    let mut out = String::from("{\n");
    let _ = writeln!(out, "  \"name\": {},", json_string(&meta.name));
    let _ = writeln!(out, "  \"info_hash\": \"{}\",", meta.info_hash_hex());
    let _ = writeln!(out, "  \"magnet\": {},", json_string(&magnet_link(meta)));
    let _ = writeln!(out, "  \"total_length\": {},", meta.total_length);
    let _ = writeln!(out, "  \"piece_length\": {},", meta.piece_length);
    let _ = writeln!(out, "  \"piece_count\": {},", geometry.piece_count);
    let _ = writeln!(out, "  \"private\": {},", meta.private);
    let _ = writeln!(out, "  \"multi_file\": {},", meta.multi_file);
    let unix = date.map_or("null".into(), |date| date.to_string());
    let iso = date.map_or("null".into(), |date| json_string(&iso8601_utc(date)));
    let _ = writeln!(out, "  \"creation_date\": {unix},");
    let _ = writeln!(out, "  \"creation_date_iso\": {iso},");
    let _ = writeln!(out, "  \"comment\": {},", optional(&meta.comment));
    let _ = writeln!(out, "  \"created_by\": {},", optional(&meta.created_by));
    let tiers: Vec<String> = meta
        .trackers
        .iter()
        .map(|tier| json_strings(tier))
        .collect();
    let _ = writeln!(out, "  \"trackers\": [{}],", tiers.join(", "));
    let _ = writeln!(out, "  \"url_list\": {},", json_strings(&meta.url_list));
    let files: Vec<String> = (1..).zip(&meta.files).map(json_file).collect();
    let _ = writeln!(out, "  \"files\": [\n{}\n  ]", files.join(",\n"));
    out.push_str("}\n");
    out
}

/// One file as a JSON object on one line, with its number (for `--select`).
fn json_file((number, file): (usize, &FileEntry)) -> String {
    let (kind, target) = match &file.kind {
        FileKind::Regular => ("regular", String::new()),
        FileKind::Pad => ("pad", String::new()),
        FileKind::Symlink { target } => (
            "symlink",
            format!(", \"target\": {}", json_string(&slash_path(target))),
        ),
    };
    format!(
        "    {{\"number\": {number}, \"path\": {}, \"length\": {}, \"offset\": {}, \"kind\": \"{kind}\"{target}}}",
        json_string(&slash_path(&file.path)),
        file.length,
        file.offset
    )
}

/// A JSON array of strings.
fn json_strings(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|item| json_string(item)).collect();
    format!("[{}]", quoted.join(", "))
}

/// `text` as a JSON string literal: quotes, backslashes and control characters escaped.
pub fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bencode::OwnedValue;

    /// A two-file torrent with awkward strings, built in memory.
    fn sample() -> Metainfo {
        let file = |path: &str, length| {
            OwnedValue::dict([
                ("length", OwnedValue::Int(length)),
                ("path", OwnedValue::List(vec![OwnedValue::bytes(path)])),
            ])
        };
        let info = OwnedValue::dict([
            (
                "files",
                OwnedValue::List(vec![file("a\"b.txt", 20000), file("c", 12768)]),
            ),
            ("name", OwnedValue::bytes("demo")),
            ("piece length", OwnedValue::Int(16384)),
            ("pieces", OwnedValue::bytes(vec![7; 40])),
            ("private", OwnedValue::Int(1)),
        ]);
        let torrent = OwnedValue::dict([
            ("announce", OwnedValue::bytes("http://t.example/announce")),
            ("comment", OwnedValue::bytes("line\none \\ \"two\"\u{1}")),
            ("creation date", OwnedValue::Int(1_234_567_890)),
            ("info", info),
        ]);
        Metainfo::from_bytes(&torrent.to_bytes()).unwrap()
    }

    #[test]
    fn text_report() {
        let meta = sample();
        let hash = meta.info_hash_hex();
        let expected = format!(
            "Name:        demo\n\
             Info hash:   {hash}\n\
             Magnet:      magnet:?xt=urn:btih:{hash}&dn=demo&tr=http%3A%2F%2Ft.example%2Fannounce\n\
             Total size:  32.0 KiB (32768 bytes)\n\
             Pieces:      2 x 16.0 KiB (16384 bytes)\n\
             Private:     yes\n\
             Created:     2009-02-13T23:31:30Z\n\
             Comment:     line\none \\ \"two\"\u{1}\n\
             Trackers:\n  tier 1: http://t.example/announce\n\
             Files (2):\n  1    19.5 KiB  demo/a\"b.txt\n  2    12.5 KiB  demo/c\n"
        );
        assert_eq!(render_text(&meta), expected);
    }

    #[test]
    fn json_report() {
        let meta = sample();
        let hash = meta.info_hash_hex();
        let expected = format!(
            r#"{{
  "name": "demo",
  "info_hash": "{hash}",
  "magnet": "magnet:?xt=urn:btih:{hash}&dn=demo&tr=http%3A%2F%2Ft.example%2Fannounce",
  "total_length": 32768,
  "piece_length": 16384,
  "piece_count": 2,
  "private": true,
  "multi_file": true,
  "creation_date": 1234567890,
  "creation_date_iso": "2009-02-13T23:31:30Z",
  "comment": "line\none \\ \"two\"\u0001",
  "created_by": null,
  "trackers": [["http://t.example/announce"]],
  "url_list": [],
  "files": [
    {{"number": 1, "path": "demo/a\"b.txt", "length": 20000, "offset": 0, "kind": "regular"}},
    {{"number": 2, "path": "demo/c", "length": 12768, "offset": 20000, "kind": "regular"}}
  ]
}}
"#
        );
        assert_eq!(render_json(&meta), expected);
    }

    #[test]
    fn dates_are_computed_by_hand() {
        assert_eq!(iso8601_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601_utc(1_234_567), "1970-01-15T06:56:07Z");
        assert_eq!(iso8601_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601_utc(-1), "1969-12-31T23:59:59Z");
        assert_eq!(iso8601_utc(253_402_300_799), "9999-12-31T23:59:59Z");
        assert_eq!(iso8601_utc(i64::MAX), format!("@{}", i64::MAX));
        assert_eq!(iso8601_utc(i64::MIN), format!("@{}", i64::MIN));
    }

    #[test]
    fn sizes_use_binary_units() {
        assert_eq!(size_with_bytes(425), "425 bytes");
        assert_eq!(size_with_bytes(268_435_456), "256.0 MiB (268435456 bytes)");
        assert_eq!(human_size(5_242_880_000), "4.9 GiB");
        assert_eq!(human_size(u64::MAX), "16.0 EiB");
    }

    #[test]
    fn json_strings_escape_everything_json_requires() {
        assert_eq!(
            json_string("a\"b\\c\u{0}\u{1f}é"),
            r#""a\"b\\c\u0000\u001fé""#
        );
        assert_eq!(json_string("\t\r\n"), r#""\t\r\n""#);
    }
}
