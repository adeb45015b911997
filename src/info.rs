//! Types-only stand-in; the renderer lands from the `parse` branch.
use crate::metainfo::Metainfo;
pub fn render_text(meta: &Metainfo) -> String {
    meta.name.clone()
}
pub fn render_json(meta: &Metainfo) -> String {
    meta.name.clone()
}
