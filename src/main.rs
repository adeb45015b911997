//! The `smalltorrent` binary: everything lives in the library; this only hands over the
//! command line and turns the outcome into an exit code.

fn main() {
    std::process::exit(smalltorrent::cli::main());
}
