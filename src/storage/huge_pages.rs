//! Whether to ask the kernel for huge pages on the windows we write.
//!
//! Pieces arrive in no particular order, so without advice the kernel faults a writable
//! map in one 4 KiB page at a time: a quarter of a million faults per GiB, about 1.2 CPU
//! seconds on the benchmark machine. With `MADV_HUGEPAGE` it fills the page cache with
//! 2 MiB folios and maps each with one fault: about 0.4 s per GiB.
//!
//! Except under a hypervisor that takes free memory back. With virtio-balloon *free page
//! reporting*, the guest hands every free 2 MiB block to the host, which drops its backing;
//! the next use of such a block faults in the host once per 4 KiB page. A 2 MiB folio is
//! taken from exactly those blocks (small pages come from the warm leftovers of smaller
//! free blocks), and the kernel zeroes it before we write, so the first download after a
//! pause costs 3.4 s per GiB instead of 1.2 (a 1 GiB file filled through a map in random
//! 256 KiB pieces: 3.4 s cold, 0.47 s when the blocks were freed a moment before, 1.25 s
//! without the advice either way). Only a benchmark that deletes a download just before
//! the next one ever sees the warm case, so where the host reclaims free memory we leave
//! the kernel's default.

use std::fs;
use std::path::Path;
use std::sync::OnceLock;

/// Where Linux lists virtio devices.
const VIRTIO_DEVICES: &str = "/sys/bus/virtio/devices";
/// Virtio device id of the memory balloon.
const BALLOON_DEVICE_ID: u64 = 5;
/// Feature bit of free page reporting (VIRTIO_BALLOON_F_REPORTING).
const REPORTING_FEATURE: usize = 5;

/// True if writable windows should be advised to use huge pages (decided once).
pub fn worth_asking() -> bool {
    static ANSWER: OnceLock<bool> = OnceLock::new();
    *ANSWER.get_or_init(|| {
        let reclaims = host_reclaims_free_memory(Path::new(VIRTIO_DEVICES));
        if reclaims {
            log::debug!("the hypervisor takes back free memory: no huge pages for the output");
        }
        !reclaims
    })
}

/// True if a virtio balloon under `devices` (laid out as /sys/bus/virtio/devices) has
/// negotiated free page reporting. Anything unreadable counts as no.
fn host_reclaims_free_memory(devices: &Path) -> bool {
    let Ok(entries) = fs::read_dir(devices) else {
        return false;
    };
    entries.flatten().any(|entry| {
        let read = |name| fs::read_to_string(entry.path().join(name)).unwrap_or_default();
        is_balloon(&read("device")) && has_feature(&read("features"), REPORTING_FEATURE)
    })
}

/// `device` holds the virtio device id in hex, as in "0x0005".
fn is_balloon(device: &str) -> bool {
    let digits = device.trim().trim_start_matches("0x");
    u64::from_str_radix(digits, 16) == Ok(BALLOON_DEVICE_ID)
}

/// `features` is one character per feature bit, bit 0 first: '1' if negotiated.
fn has_feature(features: &str, bit: usize) -> bool {
    features.trim().as_bytes().get(bit) == Some(&b'1')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for /sys/bus/virtio/devices (sysfs cannot be written here): one folder
    /// per device with its `device` and `features` files.
    fn devices(list: &[(&str, &str)]) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        for (n, (device, features)) in list.iter().enumerate() {
            let dir = root.path().join(format!("virtio{n}"));
            fs::create_dir(&dir).unwrap();
            fs::write(dir.join("device"), format!("{device}\n")).unwrap();
            fs::write(dir.join("features"), format!("{features}\n")).unwrap();
        }
        root
    }

    #[test]
    fn a_balloon_that_reports_free_pages_is_found() {
        // The features this machine's balloon negotiated, next to a block device.
        let root = devices(&[("0x0002", "0110010100"), ("0x0005", "0110010100")]);
        assert!(host_reclaims_free_memory(root.path()));
    }

    #[test]
    fn a_balloon_without_reporting_does_not_count() {
        let root = devices(&[("0x0005", "0110000100")]);
        assert!(!host_reclaims_free_memory(root.path()));
    }

    #[test]
    fn the_reporting_bit_of_another_device_does_not_count() {
        let root = devices(&[("0x0001", "0000010000"), ("0x0015", "1111111111")]);
        assert!(!host_reclaims_free_memory(root.path()));
    }

    #[test]
    fn no_virtio_bus_means_bare_metal_or_another_hypervisor() {
        let root = tempfile::tempdir().unwrap();
        assert!(!host_reclaims_free_memory(&root.path().join("missing")));
        assert!(!has_feature("", REPORTING_FEATURE));
        assert!(!is_balloon("garbage"));
    }
}
