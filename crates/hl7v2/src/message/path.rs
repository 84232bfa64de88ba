//! `SEG(n).F[r].C.S` path resolution.

use super::Message;
use super::view::Subcomponent;

fn num(s: &str) -> Option<usize> {
    s.parse::<usize>().ok().filter(|n| *n > 0)
}

/// Splits `name(idx)` or `name[idx]`.
fn indexed(part: &str, open: char, close: char) -> Option<(&str, Option<usize>)> {
    match part.find(open) {
        None => Some((part, None)),
        Some(i) => {
            let inner = part.get(i + 1..)?.strip_suffix(close)?;
            Some((part.get(..i)?, Some(num(inner)?)))
        }
    }
}

/// Resolves a path to the addressed element, exposed as a leaf view (its raw text
/// may still contain lower-level delimiters when the path stops early).
pub(crate) fn resolve<'a>(msg: &'a Message, path: &str) -> Option<Subcomponent<'a>> {
    let mut parts = path.split('.');
    let (seg_id, occ) = indexed(parts.next()?, '(', ')')?;
    let seg = msg
        .all_segments()
        .filter(|s| s.id() == seg_id)
        .nth(occ.unwrap_or(1) - 1)?;
    let (f, rep) = indexed(parts.next()?, '[', ']')?;
    let field = seg.field(num(f)?);
    let comp = parts.next().map(num);
    let sub = parts.next().map(num);
    if parts.next().is_some() {
        return None;
    }
    let ctx = field.ctx;
    let raw = match (rep, comp, sub) {
        (None, None, _) => field.raw(),
        (Some(r), None, _) => field.repetition(r).raw(),
        (r, Some(c), None) => field.repetition(r.unwrap_or(1)).component(c?).raw(),
        (r, Some(c), Some(s)) => field
            .repetition(r.unwrap_or(1))
            .component(c?)
            .subcomponent(s?)
            .raw(),
    };
    Some(Subcomponent { raw, ctx })
}
