//! TODO: info
