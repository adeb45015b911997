//! Command-line parsing and dispatch (main thread). Filled in with the download path.

/// Runs the program and returns the process exit code.
pub fn main() -> i32 {
    0
}
