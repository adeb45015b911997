//! Letting go of pages already read: after a piece is hashed, its pages leave our
//! mappings (`MADV_DONTNEED`), so the process's resident size stays small while the bytes
//! stay in the page cache, where the kernel writes them back and reclaims them like any
//! file data. Under a memory limit (a container, a small board) this is what keeps reclaim
//! cheap: pages mapped into a process must be unmapped before they can go.

use super::Storage;
use super::window::Key;

impl Storage {
    /// Drops our mappings of the pages holding `length` bytes at stream `offset` (a piece
    /// just hashed). Only windows still mapped are touched; nothing is mapped for this.
    pub fn release(&self, offset: u64, length: u64) {
        let Ok(end) = self.end_of(offset, length) else {
            return;
        };
        let mut position = offset;
        for (file, slot) in self.slots.iter().enumerate().skip(self.first_slot(offset)) {
            if position >= end {
                break;
            }
            let part_end = end.min(slot.offset + slot.length);
            while slot.file.is_some() && position < part_end {
                let in_file = position - slot.offset;
                let index = in_file / self.window_size;
                let window_start = index * self.window_size;
                let chunk_end = part_end.min(slot.offset + window_start + self.window_size);
                if let Some(window) = self.cache.get(Key { file, index }) {
                    let at = (in_file - window_start) as usize;
                    window.release(at, (chunk_end - position) as usize);
                }
                position = chunk_end;
            }
            position = part_end.max(position);
        }
    }
}
