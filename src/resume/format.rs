//! The resume file's format: a [`Resume`] record to bytes and back. Pure: no file is
//! opened here (that is [`super::disk`]), and nothing is decided about trust (that is
//! [`super::trust`]).
//!
//! One bencoded dictionary, canonical key order: `version` (1), `info-hash` (20 bytes),
//! `pieces` (the piece count), `verified` (the bitfield, as in the wire protocol) and
//! `files`: one dictionary per file entry of the torrent, in metainfo order, holding
//! `length`, `mtime` and `mtime-ns` of the file as it was when the record was made (empty
//! for pad files, symlinks and missing files). Optional: `unchecked` (pieces still being
//! hashed at the record), `unsynced` (verified pieces whose bytes were in the page cache
//! but not yet flushed to disk) and `boot-id` (the kernel boot the record was made in, see
//! [`super::boot`]). A record without an optional key (an older one) reads as none.

use crate::bencode::{self, OwnedValue, Value};
use crate::bitfield::Bitfield;

/// The format version written and understood.
pub const VERSION: i64 = 1;

/// A file's length and modification time, as recorded or as found on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    pub length: u64,
    pub mtime: i64,
    pub mtime_ns: i64,
}

/// The content of one resume file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resume {
    pub info_hash: [u8; 20],
    pub verified: Bitfield,
    /// Pieces written in full but still being hashed when the record was taken: hashed at
    /// the next start even if their files look unchanged (optional in the file, key
    /// `unchecked`; absent means none).
    pub unchecked: Bitfield,
    /// Verified pieces not yet flushed to disk when the record was taken: trusted at the
    /// next start only in the same boot (key `unsynced`; absent means none).
    pub unsynced: Bitfield,
    /// The kernel boot the record was made in (key `boot-id`; absent means unknown).
    pub boot_id: Option<String>,
    /// One per file entry of the torrent; `None` for pad files, symlinks, missing files.
    pub files: Vec<Option<FileStamp>>,
}

/// Parses a resume file's bytes; the error says what is wrong.
pub fn decode(bytes: &[u8]) -> Result<Resume, String> {
    let value = bencode::decode(bytes).map_err(|e| format!("bad bencode: {e:?}"))?;
    let int = |v: &Value, key: &str| {
        v.get(key)
            .and_then(Value::as_int)
            .ok_or_else(|| format!("no integer '{key}'"))
    };
    let version = int(&value, "version")?;
    if version != VERSION {
        return Err(format!("version {version}, expected {VERSION}"));
    }
    let info_hash: [u8; 20] = value
        .get("info-hash")
        .and_then(Value::as_bytes)
        .and_then(|b| b.try_into().ok())
        .ok_or("no 20-byte 'info-hash'")?;
    let recorded = int(&value, "pieces")?;
    let bits = value
        .get("verified")
        .and_then(Value::as_bytes)
        .ok_or("no 'verified' bitfield")?;
    let len = u32::try_from(recorded).map_err(|_| "bad 'pieces'".to_string())?;
    let verified = Bitfield::from_bytes(bits.to_vec(), len)
        .map_err(|e| format!("bad 'verified' bitfield: {e}"))?;
    let unchecked = match value.get("unchecked").map(Value::as_bytes) {
        None => Bitfield::new(len),
        Some(Some(bits)) => Bitfield::from_bytes(bits.to_vec(), len)
            .map_err(|e| format!("bad 'unchecked' bitfield: {e}"))?,
        Some(None) => return Err("'unchecked' is not a bitfield".into()),
    };
    let unsynced = match value.get("unsynced").map(Value::as_bytes) {
        None => Bitfield::new(len),
        Some(Some(bits)) => Bitfield::from_bytes(bits.to_vec(), len)
            .map_err(|e| format!("bad 'unsynced' bitfield: {e}"))?,
        Some(None) => return Err("'unsynced' is not a bitfield".into()),
    };
    let boot_id = match value.get("boot-id").map(Value::as_bytes) {
        None => None,
        Some(Some(bytes)) => Some(
            String::from_utf8(bytes.to_vec()).map_err(|_| "'boot-id' is not text".to_string())?,
        ),
        Some(None) => return Err("'boot-id' is not a string".into()),
    };
    let files = value
        .get("files")
        .and_then(Value::as_list)
        .ok_or("no 'files' list")?
        .iter()
        .map(|f| match f.as_dict() {
            Some([]) => Ok(None),
            Some(_) => Ok(Some(FileStamp {
                length: u64::try_from(int(f, "length")?).map_err(|_| "negative length")?,
                mtime: int(f, "mtime")?,
                mtime_ns: int(f, "mtime-ns")?,
            })),
            None => Err("a 'files' entry is not a dictionary".to_string()),
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Resume {
        info_hash,
        verified,
        unchecked,
        unsynced,
        boot_id,
        files,
    })
}

/// The resume file's bytes.
pub fn encode(resume: &Resume) -> Vec<u8> {
    let files = resume
        .files
        .iter()
        .map(|stamp| match stamp {
            None => OwnedValue::dict([]),
            Some(s) => OwnedValue::dict([
                ("length", OwnedValue::Int(s.length as i64)),
                ("mtime", OwnedValue::Int(s.mtime)),
                ("mtime-ns", OwnedValue::Int(s.mtime_ns)),
            ]),
        })
        .collect();
    let mut entries = vec![
        ("version", OwnedValue::Int(VERSION)),
        ("info-hash", OwnedValue::bytes(resume.info_hash.to_vec())),
        ("pieces", OwnedValue::Int(resume.verified.len() as i64)),
        (
            "verified",
            OwnedValue::bytes(resume.verified.as_bytes().to_vec()),
        ),
        (
            "unchecked",
            OwnedValue::bytes(resume.unchecked.as_bytes().to_vec()),
        ),
        (
            "unsynced",
            OwnedValue::bytes(resume.unsynced.as_bytes().to_vec()),
        ),
        ("files", OwnedValue::List(files)),
    ];
    if let Some(id) = &resume.boot_id {
        entries.push(("boot-id", OwnedValue::bytes(id.as_bytes().to_vec())));
    }
    OwnedValue::dict(entries).to_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resume::tests::sample;

    #[test]
    fn round_trip() {
        let resume = sample();
        assert_eq!(decode(&encode(&resume)).unwrap(), resume);
    }

    #[test]
    fn truncated_or_garbage_files_are_refused() {
        let bytes = encode(&sample());
        for cut in [0, 1, bytes.len() / 2, bytes.len() - 1] {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        assert!(decode(b"hello").is_err());
        assert!(decode(b"de").is_err());
        let mut other_version = bytes.clone();
        let at = bytes
            .windows(12)
            .position(|w| w == b"7:versioni1e")
            .unwrap();
        other_version[at + 10] = b'2';
        assert!(decode(&other_version).unwrap_err().contains("version 2"));
    }
}
