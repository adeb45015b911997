//! TODO: piece_manager
