//! Element paths kept as a stack-allocated chain, rendered only when an issue
//! is reported, so a valid resource costs no path strings.

use std::fmt::Write as _;

#[derive(Clone, Copy)]
pub(crate) enum Seg<'a> {
    /// Start of a path: a resource type name, or "" for "no prefix".
    Root(&'a str),
    Field(&'a Seg<'a>, &'a str),
    Index(&'a Seg<'a>, usize),
}

impl Seg<'_> {
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            Seg::Root(name) => out.push_str(name),
            Seg::Field(parent, name) => {
                parent.write(out);
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(name);
            }
            Seg::Index(parent, i) => {
                parent.write(out);
                let _ = write!(out, "[{i}]");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Seg;

    #[test]
    fn renders() {
        let root = Seg::Root("Claim");
        let item = Seg::Field(&root, "item");
        let i1 = Seg::Index(&item, 1);
        let bogus = Seg::Field(&i1, "bogus");
        assert_eq!(bogus.render(), "Claim.item[1].bogus");
        assert_eq!(
            Seg::Field(&Seg::Root(""), "resourceType").render(),
            "resourceType"
        );
    }
}
