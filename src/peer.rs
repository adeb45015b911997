//! TODO: peer
