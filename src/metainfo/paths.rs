//! Turning a torrent's untrusted names into safe relative paths.
//!
//! The rules (the "path policy" in the module docs of [`crate::metainfo`]) are applied to
//! each path element separately; a sanitised element is always a single, non-empty, normal
//! file name, so joining elements can never climb out of the download folder.

use std::collections::{HashMap, HashSet};

/// Elements longer than this many bytes are shortened (file systems allow 255).
pub const MAX_ELEMENT_BYTES: usize = 240;

/// An extension at most this long survives the shortening of an over-long element.
const MAX_EXTENSION_BYTES: usize = 20;

/// Cap on the total number of renames for duplicate names (libtorrent uses the same cap):
/// each collision costs a probe, so without a cap a torrent of many identical names
/// would make renaming quadratic.
pub const MAX_RENAME_ATTEMPTS: usize = 500;

/// Sanitises one path element. `None` means "drop this element" (empty, `.` or `..`).
pub fn sanitise_element(raw: &[u8]) -> Option<String> {
    let text = utf8_or_underscore(raw);
    if is_dot_or_empty(&text) {
        return None;
    }
    let joined: String = text.chars().filter(|c| !is_separator(*c)).collect();
    if joined.is_empty() {
        return Some("_".to_string()); // the element was only separators
    }
    if is_dot_or_empty(&joined) {
        return None;
    }
    let visible: String = joined
        .chars()
        .map(|c| if c.is_control() { '_' } else { c })
        .collect();
    Some(shorten(visible))
}

/// Sanitises a list of path elements, dropping the ones [`sanitise_element`] drops.
pub fn sanitise_elements(raw: &[&[u8]]) -> Vec<String> {
    raw.iter()
        .filter_map(|element| sanitise_element(element))
        .collect()
}

fn is_separator(c: char) -> bool {
    c == '/' || c == '\\'
}

fn is_dot_or_empty(element: &str) -> bool {
    element.is_empty() || element == "." || element == ".."
}

/// Decodes UTF-8, replacing each run of invalid bytes with `_`.
fn utf8_or_underscore(raw: &[u8]) -> String {
    let mut text = String::new();
    for chunk in raw.utf8_chunks() {
        text.push_str(chunk.valid());
        if !chunk.invalid().is_empty() {
            text.push('_');
        }
    }
    text
}

/// Cuts an element to [`MAX_ELEMENT_BYTES`] on a character boundary, keeping a short
/// extension (`aaaa….mkv` stays a `.mkv`).
fn shorten(element: String) -> String {
    if element.len() <= MAX_ELEMENT_BYTES {
        return element;
    }
    let extension = match element.rfind('.') {
        Some(dot) if dot > 0 && element.len() - dot <= MAX_EXTENSION_BYTES => &element[dot..],
        _ => "",
    };
    let mut stem_end = MAX_ELEMENT_BYTES - extension.len();
    while !element.is_char_boundary(stem_end) {
        stem_end -= 1;
    }
    format!("{}{}", &element[..stem_end], extension)
}

/// The name with a counter before its extension: `bar.txt`, 1 → `bar.1.txt`; `foo` → `foo.1`.
fn with_counter(name: &str, counter: usize) -> String {
    match name.rfind('.') {
        Some(dot) if dot > 0 => format!("{}.{counter}{}", &name[..dot], &name[dot..]),
        _ => format!("{name}.{counter}"),
    }
}

/// There were more than [`MAX_RENAME_ATTEMPTS`] collisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyDuplicates;

/// Renames files so that no two share a path and no file has the path of a directory that
/// another file needs. `paths` are sanitised element lists; only the last element (the
/// file name) is ever changed: `foo/bar.txt` twice becomes `foo/bar.txt`, `foo/bar.1.txt`.
pub fn make_unique(paths: &mut [Vec<String>]) -> Result<(), TooManyDuplicates> {
    // Directories form a tree of (parent id, name) -> id; id 0 is the download folder.
    // Building it first means a file also yields to a directory named by a later file.
    let mut directories: HashMap<(usize, String), usize> = HashMap::new();
    let mut parents = Vec::with_capacity(paths.len());
    for path in paths.iter() {
        let mut parent = 0;
        for element in path.iter().take(path.len().saturating_sub(1)) {
            let next_id = directories.len() + 1;
            parent = *directories
                .entry((parent, element.clone()))
                .or_insert(next_id);
        }
        parents.push(parent);
    }

    let mut files: HashSet<(usize, String)> = HashSet::new();
    let mut attempts = 0;
    for (path, parent) in paths.iter_mut().zip(parents) {
        let Some(last) = path.last_mut() else {
            continue;
        };
        let original = last.clone();
        let mut counter = 0;
        loop {
            let key = (parent, last.clone());
            if !files.contains(&key) && !directories.contains_key(&key) {
                files.insert(key);
                break;
            }
            attempts += 1;
            if attempts > MAX_RENAME_ATTEMPTS {
                return Err(TooManyDuplicates);
            }
            counter += 1;
            *last = with_counter(&original, counter);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(raw: &str) -> Option<String> {
        sanitise_element(raw.as_bytes())
    }

    #[test]
    fn traversal_elements_are_dropped_or_flattened() {
        assert_eq!(clean(".."), None);
        assert_eq!(clean("."), None);
        assert_eq!(clean(""), None);
        assert_eq!(clean("/"), Some("_".into()));
        assert_eq!(clean("\\\\"), Some("_".into()));
        assert_eq!(clean("abc/../../def").as_deref(), Some("abc....def"));
        assert_eq!(
            clean("test2/../test3/.././../../test4").as_deref(),
            Some("test2..test3.......test4")
        );
        assert_eq!(clean("./"), None, "'.' after removing separators");
        assert_eq!(clean("/foobar").as_deref(), Some("foobar"));
    }

    #[test]
    fn control_characters_and_bad_utf8_become_underscores() {
        assert_eq!(clean("a\0b\nc").as_deref(), Some("a_b_c"));
        assert_eq!(sanitise_element(b"\x82est/MB").as_deref(), Some("_estMB"));
        assert_eq!(clean("foobar ").as_deref(), Some("foobar "));
    }

    #[test]
    fn long_elements_keep_their_extension() {
        let long = format!("{}.mkv", "a".repeat(300));
        let short = clean(&long).unwrap();
        assert_eq!(short.len(), MAX_ELEMENT_BYTES);
        assert!(short.ends_with("a.mkv"));
        let wide = "é".repeat(200); // 400 bytes, 2 per char
        let cut = clean(&wide).unwrap();
        assert!(cut.len() <= MAX_ELEMENT_BYTES && cut.chars().all(|c| c == 'é'));
    }

    fn owned(paths: &[&[&str]]) -> Vec<Vec<String>> {
        let to_vec = |path: &&[&str]| path.iter().map(|s| s.to_string()).collect();
        paths.iter().map(to_vec).collect()
    }

    #[test]
    fn duplicates_get_a_counter_before_the_extension() {
        let mut paths = owned(&[&["t", "bar.txt"], &["t", "bar.txt"], &["t", "bar.txt"]]);
        make_unique(&mut paths).unwrap();
        assert_eq!(paths[1], ["t", "bar.1.txt"]);
        assert_eq!(paths[2], ["t", "bar.2.txt"]);
    }

    #[test]
    fn a_file_yields_to_a_directory_of_the_same_name() {
        let mut paths = owned(&[&["t", "a"], &["t", "a", "b"]]);
        make_unique(&mut paths).unwrap();
        assert_eq!(paths[0], ["t", "a.1"]);
        assert_eq!(paths[1], ["t", "a", "b"]);
    }

    #[test]
    fn renaming_is_capped() {
        let mut paths = vec![vec!["x".to_string()]; 40];
        assert_eq!(make_unique(&mut paths), Err(TooManyDuplicates));
    }
}
