//! TODO: bencode
