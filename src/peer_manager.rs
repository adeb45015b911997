//! TODO: peer_manager
