use super::*;
use crate::selection::FileList;

fn file(name: &str, offset: u64, length: u64) -> FileEntry {
    FileEntry {
        path: PathBuf::from(name),
        length,
        offset,
        kind: FileKind::Regular,
    }
}

/// Pieces of 10 bytes; files a [0,15) b [15,42) c [42,45) d [45,60).
fn torrent() -> (Vec<FileEntry>, Geometry) {
    let files = vec![
        file("a", 0, 15),
        file("b", 15, 27),
        file("c", 42, 3),
        file("d", 45, 15),
    ];
    (files, Geometry::new(60, 10))
}

fn at(offset: u64, length: u64, place: Place) -> Stretch {
    Stretch {
        offset,
        length,
        place,
    }
}

fn disk(path: &str) -> Place {
    Place::Disk(PathBuf::from(path))
}

#[test]
fn an_unselected_file_keeps_only_the_edges_that_wanted_pieces_hold() {
    let (files, geometry) = torrent();
    let dir = tempdir();
    let selection = FileList::parse("1").unwrap().resolve(4).unwrap();
    let wanted = selection.wanted_pieces(&files, &geometry);
    assert_eq!(wanted.pieces().collect::<Vec<_>>(), [0, 1]);
    let stretches = selected(&dir, &files, &selection, &wanted, &geometry, Path::new("p"));
    assert_eq!(
        stretches,
        [
            at(0, 15, disk("a")),
            // b's head is in piece 1, which a shares: kept; its middle and tail are not.
            at(15, 5, disk("p/2.head")),
            at(20, 20, Place::Nowhere),
            at(40, 2, Place::Nowhere),
            // c and d lie in pieces nobody wants.
            at(42, 3, Place::Nowhere),
            at(45, 5, Place::Nowhere),
            at(50, 10, Place::Nowhere),
        ]
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_small_file_between_two_selected_ones_is_kept_whole() {
    let (files, geometry) = torrent();
    let dir = tempdir();
    let selection = FileList::parse("2,4").unwrap().resolve(4).unwrap();
    let wanted = selection.wanted_pieces(&files, &geometry);
    let stretches = selected(&dir, &files, &selection, &wanted, &geometry, Path::new("p"));
    assert_eq!(
        stretches,
        [
            at(0, 10, Place::Nowhere),
            at(10, 5, disk("p/1.tail")),
            at(15, 27, disk("b")),
            at(42, 3, disk("p/3.head")),
            at(45, 15, disk("d")),
        ]
    );
    // The stretches tile the stream.
    let mut end = 0;
    for stretch in &stretches {
        assert_eq!(stretch.offset, end);
        end += stretch.length;
    }
    assert_eq!(end, 60);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_file_selected_later_takes_its_edges_from_the_part_files() {
    let (files, geometry) = torrent();
    let dir = tempdir();
    let parts = Path::new(".smalltorrent/x.parts");
    fs::create_dir_all(dir.join(parts)).unwrap();
    fs::write(dir.join(parts).join("2.head"), b"HHHHH").unwrap();
    fs::write(dir.join(parts).join("2.tail"), b"TT").unwrap();
    fs::write(dir.join(parts).join("3.head"), b"too long").unwrap();
    let selection = FileList::parse("2-3").unwrap().resolve(4).unwrap();
    let used = migrate(&dir, &files, &selection, &geometry, parts).unwrap();
    assert_eq!(used, 2);
    let b = fs::read(dir.join("b")).unwrap();
    assert_eq!(b.len(), 27);
    assert_eq!(&b[..5], b"HHHHH");
    assert_eq!(&b[25..], b"TT");
    assert!(b[5..25].iter().all(|&x| x == 0));
    // A part file of the wrong size is not used, but it is gone all the same.
    assert_eq!(fs::read(dir.join("c")).unwrap(), [0, 0, 0]);
    assert!(fs::read_dir(dir.join(parts)).unwrap().next().is_none());
    // Unselected files are untouched.
    assert!(!dir.join("a").exists() && !dir.join("d").exists());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_unselected_file_already_on_disk_is_used_as_it_is() {
    let (files, geometry) = torrent();
    let dir = tempdir();
    fs::write(dir.join("b"), [7u8; 27]).unwrap();
    let selection = FileList::parse("1").unwrap().resolve(4).unwrap();
    let wanted = selection.wanted_pieces(&files, &geometry);
    let stretches = selected(&dir, &files, &selection, &wanted, &geometry, Path::new("p"));
    assert_eq!(stretches[1], at(15, 27, disk("b")));
    fs::remove_dir_all(&dir).unwrap();
}

fn tempdir() -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "smalltorrent-parts-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    fs::create_dir_all(&dir).unwrap();
    dir
}
