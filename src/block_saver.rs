//! TODO: block_saver
