//! TODO: metainfo
