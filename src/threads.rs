//! Joining the threads we start. A thread that panicked is a bug: its panic is logged at
//! `join` with the thread's name and message, never dropped silently, and the caller
//! carries on with what it has (the data on disk is only ever trusted once hashed).

use std::any::Any;
use std::thread::{JoinHandle, ScopedJoinHandle};

/// Waits for `handle`'s thread to end. Returns its result, or `None` (after logging the
/// panic) if it panicked.
pub fn join<T>(handle: JoinHandle<T>) -> Option<T> {
    let name = handle.thread().name().unwrap_or("unnamed").to_owned();
    handle
        .join()
        .map_err(|panic| log_panic(&name, &*panic))
        .ok()
}

/// [`join`] for a thread started in a `std::thread::scope`.
pub fn join_scoped<T>(handle: ScopedJoinHandle<'_, T>) -> Option<T> {
    let name = handle.thread().name().unwrap_or("unnamed").to_owned();
    handle
        .join()
        .map_err(|panic| log_panic(&name, &*panic))
        .ok()
}

/// Logs a panic payload (the message given to `panic!`, when it is a string).
fn log_panic(name: &str, panic: &(dyn Any + Send)) {
    let message = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    log::error!("thread {name:?} panicked: {message}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_comes_back_and_a_panic_is_none() {
        let fine = std::thread::Builder::new()
            .name("fine".into())
            .spawn(|| 7)
            .unwrap();
        assert_eq!(join(fine), Some(7));
        let broken = std::thread::Builder::new()
            .name("broken".into())
            .spawn(|| -> u32 { panic!("on purpose") })
            .unwrap();
        assert_eq!(join(broken), None);
        let scoped = std::thread::scope(|scope| {
            let handle = std::thread::Builder::new()
                .name("scoped".into())
                .spawn_scoped(scope, || -> u32 { panic!("{}", "formatted") })
                .unwrap();
            join_scoped(handle)
        });
        assert_eq!(scoped, None);
    }
}
