//! Which boot of the kernel we are running in.
//!
//! Bytes written into the map are safe from a crash of *this process* as soon as they are
//! in the page cache: the kernel writes them to disk later whether we are alive or not.
//! Only a crash of the kernel itself (a power cut, a panic) can lose them before then, and
//! that always means a new boot. So a resume record may list pieces that were not flushed
//! yet, provided it says in which boot it was made: the next start trusts them in the same
//! boot and hashes them in any other (see [`super::trust`]).
//!
//! Linux gives every boot a random UUID in `/proc/sys/kernel/random/boot_id`. Where it
//! cannot be read, there is no boot id and the recorder flushes before every record.

use std::fs;

/// Where Linux publishes the boot id.
const BOOT_ID_PATH: &str = "/proc/sys/kernel/random/boot_id";

/// The current boot's id, or `None` if the system does not tell.
pub fn id() -> Option<String> {
    let text = fs::read_to_string(BOOT_ID_PATH).ok()?;
    parse(&text)
}

/// A boot id as the kernel prints it: a UUID (36 characters of hex digits and dashes)
/// and a newline. Anything else is not trusted to identify a boot.
fn parse(text: &str) -> Option<String> {
    let id = text.trim();
    let uuid_like = id.len() == 36 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    uuid_like.then(|| id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uuid_is_a_boot_id_anything_else_is_not() {
        assert_eq!(
            parse("0f3b2c1e-5d4a-4b6c-9e8f-7a6b5c4d3e2f\n").as_deref(),
            Some("0f3b2c1e-5d4a-4b6c-9e8f-7a6b5c4d3e2f")
        );
        assert_eq!(parse(""), None);
        assert_eq!(parse("not a uuid at all, but 36 chars ok?"), None);
        assert_eq!(parse("0f3b2c1e-5d4a-4b6c-9e8f"), None);
    }

    #[test]
    fn this_linux_machine_has_a_boot_id_and_it_is_stable() {
        let first = id();
        assert!(first.is_some(), "no boot id in {BOOT_ID_PATH}");
        assert_eq!(first, id());
    }
}
