//! TODO: announcer
