//! Where a web seed keeps each byte: every file's URL as BEP 19 builds it, and a stretch of
//! the byte stream cut into one range per file.
//!
//! BEP 19's rule: for a single-file torrent the URL names the file itself, unless it ends
//! in `/`, when the torrent's name is added. For a multi-file torrent the URL names the
//! folder above the torrent's: the name and each file's path follow, one element per
//! segment (a `/` is added first when the URL lacks one, as libtorrent does). Each element
//! is percent-encoded. Pad files (BEP 47) are not on the server: their bytes are zeros.

use crate::metainfo::{FileKind, Metainfo};

/// Where one file's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// This URL, by HTTP range requests.
    Url(String),
    /// Nowhere: a pad file, all zeros.
    Zeros,
}

/// Part of one file: `length` bytes from `start` within it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span<'a> {
    pub source: &'a Source,
    pub start: u64,
    pub length: u64,
    /// The file's whole length: a server may answer a range that covers all of it with
    /// the whole file (status 200).
    pub file_length: u64,
}

/// One web seed's view of the torrent: for each file, where it starts in the byte stream,
/// how long it is, and where its bytes come from.
#[derive(Debug)]
pub struct Layout {
    files: Vec<(u64, u64, Source)>,
}

impl Layout {
    /// The layout of `meta`'s files behind the web seed `base`.
    pub fn new(base: &str, meta: &Metainfo) -> Layout {
        let files = meta
            .files
            .iter()
            .map(|file| {
                let source = match file.kind {
                    FileKind::Pad => Source::Zeros,
                    _ if !meta.multi_file => Source::Url(single_file_url(base, &meta.name)),
                    _ => {
                        let elements = file.path.iter().map(|e| e.to_string_lossy());
                        let path: Vec<String> = elements.map(|e| encode(&e)).collect();
                        let slash = if base.ends_with('/') { "" } else { "/" };
                        Source::Url(format!("{base}{slash}{}", path.join("/")))
                    }
                };
                (file.offset, file.length, source)
            })
            .collect();
        Layout { files }
    }

    /// The spans that hold `length` bytes of the byte stream from `start`, in order. Empty
    /// files (and symlinks) hold none.
    pub fn spans(&self, start: u64, length: u64) -> Vec<Span<'_>> {
        let end = start + length;
        let holding = self.files.iter().filter(|(offset, file_length, _)| {
            *file_length > 0 && *offset < end && offset + file_length > start
        });
        holding
            .map(|(offset, file_length, source)| {
                let from = start.max(*offset);
                let to = end.min(offset + file_length);
                Span {
                    source,
                    start: from - offset,
                    length: to - from,
                    file_length: *file_length,
                }
            })
            .collect()
    }
}

/// A single file's URL: the URL itself, or with the name added after a final `/`.
fn single_file_url(base: &str, name: &str) -> String {
    if base.ends_with('/') {
        format!("{base}{}", encode(name))
    } else {
        base.to_string()
    }
}

/// Percent-encodes one path element: every byte but the unreserved ones (RFC 3986).
pub fn encode(element: &str) -> String {
    let mut out = String::with_capacity(element.len());
    for byte in element.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
