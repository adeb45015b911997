//! Types-only stand-in; the parser lands from the `parse` branch.
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileKind {
    Regular,
    Pad,
    Symlink { target: PathBuf },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    pub path: PathBuf,
    pub length: u64,
    pub offset: u64,
    pub kind: FileKind,
}

#[derive(Debug, Clone)]
pub struct Metainfo {
    pub info_hash: [u8; 20],
    pub name: String,
    pub piece_length: u32,
    pub pieces: Vec<[u8; 20]>,
    pub files: Vec<FileEntry>,
    pub total_length: u64,
    pub trackers: Vec<Vec<String>>,
    pub creation_date: Option<i64>,
    pub comment: Option<String>,
    pub created_by: Option<String>,
    pub private: bool,
    pub multi_file: bool,
    pub url_list: Vec<String>,
}

impl Metainfo {
    pub fn geometry(&self) -> crate::geometry::Geometry {
        crate::geometry::Geometry::new(self.total_length, self.piece_length)
    }
}
#[derive(Debug)]
pub struct MetainfoError;
impl std::fmt::Display for MetainfoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "stub")
    }
}
impl std::error::Error for MetainfoError {}
impl Metainfo {
    pub fn from_file(_p: &std::path::Path) -> Result<Metainfo, MetainfoError> {
        Err(MetainfoError)
    }
    pub fn info_hash_hex(&self) -> String {
        String::new()
    }
}
