//! Why a torrent file was refused: [`MetainfoError`], one variant per way, each with a
//! message that names the field at fault.

use super::{MAX_PIECES, MAX_TORRENT_FILE_SIZE, paths};
use crate::bencode::BencodeError;
use std::fmt;
use std::path::PathBuf;

/// Why a torrent file was refused.
#[derive(Debug)]
pub enum MetainfoError {
    /// The file could not be read.
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_TORRENT_FILE_SIZE`].
    TooLarge { path: PathBuf },
    /// The file is not valid bencode.
    Bencode(BencodeError),
    /// The file is empty.
    Empty,
    /// The file does not start with a bencoded dictionary (an HTML page, a list...).
    NotADictionary,
    /// A field is missing, has the wrong type, or has an unacceptable value.
    Invalid {
        field: &'static str,
        problem: String,
    },
    /// The torrent has only BitTorrent v2 metadata.
    V2NotSupported,
    /// More than [`MAX_PIECES`] pieces.
    TooManyPieces { count: u64 },
    /// More than [`paths::MAX_RENAME_ATTEMPTS`] renames were needed for colliding names.
    TooManyDuplicateNames,
}

impl fmt::Display for MetainfoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetainfoError::Read { path, source } => {
                write!(f, "cannot read torrent file {}: {source}", path.display())
            }
            MetainfoError::TooLarge { path } => write!(
                f,
                "{} is larger than {} MiB; it is not a torrent file",
                path.display(),
                MAX_TORRENT_FILE_SIZE >> 20
            ),
            MetainfoError::Bencode(error) => write!(f, "invalid torrent: {error}"),
            MetainfoError::Empty => write!(f, "invalid torrent: the file is empty"),
            MetainfoError::NotADictionary => write!(
                f,
                "invalid torrent: the file is not a bencoded dictionary (is it a .torrent file?)"
            ),
            MetainfoError::Invalid { field, problem } => {
                write!(f, "invalid torrent: '{field}' {problem}")
            }
            MetainfoError::V2NotSupported => write!(
                f,
                "invalid torrent: BitTorrent v2 is not supported (this torrent has no v1 \
                 'pieces'; only v1 and hybrid torrents can be downloaded)"
            ),
            MetainfoError::TooManyPieces { count } => write!(
                f,
                "invalid torrent: too many pieces ({count}; at most {MAX_PIECES}): \
                 'length' is too large for the 'piece length'"
            ),
            MetainfoError::TooManyDuplicateNames => write!(
                f,
                "invalid torrent: too many duplicate file names in 'files' (more than {} renames)",
                paths::MAX_RENAME_ATTEMPTS
            ),
        }
    }
}

impl std::error::Error for MetainfoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MetainfoError::Read { source, .. } => Some(source),
            MetainfoError::Bencode(error) => Some(error),
            _ => None,
        }
    }
}

impl From<BencodeError> for MetainfoError {
    fn from(error: BencodeError) -> MetainfoError {
        MetainfoError::Bencode(error)
    }
}
