//! The check of data already on disk, before anything starts: which pieces the resume file
//! vouches for, which must be hashed, and the bitfield that comes out (see `verify` and
//! `resume::plan`). Runs on the main thread, hashing on every core.

use super::parts::Chosen;
use super::{DownloadError, Options};
use crate::bitfield::Bitfield;
use crate::metainfo::Metainfo;
use crate::progress;
use crate::resume;
use crate::storage::Storage;
use crate::terminal;
use crate::verify;
use std::time::{Duration, Instant};

/// Finds the pieces already on disk: trusts the resume file where it matches the files
/// (`stamps`, taken before storage opened them) and hashes everything else that may hold
/// data. A file another program truncates meanwhile is repaired, and its lost pieces are
/// missing (see `verify`). Only wanted pieces are hashed (`chosen`, from `--select`).
pub(super) fn check_existing(
    storage: &Storage,
    meta: &Metainfo,
    options: &Options,
    stamps: &[Option<resume::FileStamp>],
    chosen: &Chosen,
) -> Result<Bitfield, DownloadError> {
    let geometry = meta.geometry();
    let wanted = chosen.wanted.count();
    let selected = match chosen.selection.is_all() {
        true => String::new(),
        false => format!(
            " (--select: {} of {} files)",
            chosen.selection.count(),
            meta.files.len()
        ),
    };
    if !storage.had_data() {
        if options.report_check {
            eprintln!(
                "checked data: 0 of {wanted} pieces valid (0.0%): nothing in {} yet{selected}",
                options.dir.display()
            );
        }
        return Ok(Bitfield::new(geometry.piece_count));
    }
    let loaded = resume::path_for(&options.dir, &meta.info_hash, &meta.files)
        .and_then(|path| resume::load(&path));
    let boot_id = resume::boot::id();
    let plan = resume::plan(
        loaded,
        &meta.info_hash,
        &geometry,
        &meta.files,
        stamps,
        boot_id.as_deref(),
    );
    // Progress of the hash check: redrawn in place on a terminal, a line every 5 s otherwise.
    let mut last_line = Instant::now();
    let mut in_place = terminal::Line::default();
    let show = |done: u32, total: u32| match options.progress {
        progress::Mode::Terminal => {
            let size = terminal::size();
            let line = format!("checking data: {done} of {total} pieces");
            eprint!(
                "{}",
                in_place.redraw(&terminal::fit(&line, size.line_width()), size)
            );
        }
        progress::Mode::Plain if last_line.elapsed() >= Duration::from_secs(5) => {
            last_line = Instant::now();
            eprintln!("checking data: {done} of {total} pieces");
        }
        _ => {}
    };
    let mut check = plan.check;
    for piece in (0..geometry.piece_count).filter(|&p| !chosen.wanted.has(p)) {
        check.clear(piece);
    }
    let have = verify::check_listed(
        storage,
        &geometry,
        &meta.pieces,
        &check,
        &plan.trusted,
        show,
    )
    .map_err(DownloadError::Storage)?;
    if options.progress == progress::Mode::Terminal {
        eprint!("{}", in_place.erase(terminal::size()));
    }
    let valid = have.pieces().filter(|&p| chosen.wanted.has(p)).count();
    let line = format!(
        "checked data: {valid} of {wanted} pieces valid ({:.1}%); {} from the resume file, \
         {} hashed{}{selected}",
        valid as f64 * 100.0 / wanted.max(1) as f64,
        plan.trusted.count(),
        check.count(),
        plan.note.map(|n| format!(" ({n})")).unwrap_or_default()
    );
    if options.report_check {
        eprintln!("{line}");
    } else {
        log::info!("{line}");
    }
    Ok(have)
}
