//! A parsed search: pure data that the SQL compiler in `store::search_sql` turns into one statement.

/// Date/number comparison prefixes (R4 search.html#prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefix {
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    Sa,
    Eb,
    Ap,
}

impl Prefix {
    /// Splits a leading prefix off a value; no prefix means `eq`.
    pub fn split(value: &str) -> (Prefix, &str) {
        let table = [
            ("eq", Prefix::Eq),
            ("ne", Prefix::Ne),
            ("gt", Prefix::Gt),
            ("lt", Prefix::Lt),
            ("ge", Prefix::Ge),
            ("le", Prefix::Le),
            ("sa", Prefix::Sa),
            ("eb", Prefix::Eb),
            ("ap", Prefix::Ap),
        ];
        for (text, p) in table {
            if let Some(rest) = value.strip_prefix(text) {
                return (p, rest);
            }
        }
        (Prefix::Eq, value)
    }
}

/// A single value test against one index row.
#[derive(Debug, Clone, PartialEq)]
pub enum Pred {
    StrPrefix(String),
    StrExact(String),
    StrContains(String),
    /// system: None = any, Some(None) = no system, Some(Some(s)) = that system; code None = any.
    Token {
        system: Option<Option<String>>,
        code: Option<String>,
    },
    TokenText(String),
    /// Identifier :of-type — type system|code plus the identifier value.
    OfType {
        system: Option<String>,
        code: String,
        value: String,
    },
    /// A [lo, hi) range in µs.
    Date {
        prefix: Prefix,
        lo: i64,
        hi: i64,
    },
    /// `value` with its implicit precision range [lo, hi).
    Number {
        prefix: Prefix,
        value: f64,
        lo: f64,
        hi: f64,
    },
    Quantity {
        prefix: Prefix,
        value: f64,
        lo: f64,
        hi: f64,
        system: Option<String>,
        code: Option<String>,
    },
    Reference {
        ref_type: Option<String>,
        ref_id: String,
    },
    ReferenceUrl(String),
    Uri(String),
    UriBelow(String),
    UriAbove(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `_id` (OR list).
    Id(Vec<String>),
    /// `_lastUpdated` (OR list of date predicates on the resource row).
    LastUpdated(Vec<Pred>),
    /// A row of `param` matches one of `any`; `negate` turns it into "no row matches" (:not).
    Index {
        param: String,
        any: Vec<Pred>,
        negate: bool,
    },
    /// `:missing=true|false`.
    Missing { param: String, missing: bool },
    /// Composite: one alternative per OR value, each a list of per-component predicates.
    Composite { param: String, any: Vec<Vec<Pred>> },
    /// Chained parameter: a reference in `param` points at a live resource matching `inner`.
    Chain {
        param: String,
        target_type: Option<String>,
        inner: Box<Filter>,
    },
    /// Reverse chain `_has:source_type:ref_param:...`: a live `source_type` resource that
    /// references this one through `ref_param` matches `inner`.
    Has {
        source_type: String,
        ref_param: String,
        inner: Box<Filter>,
    },
    /// Compartment membership: one of `params` references `ref_type/ref_id`.
    Compartment {
        params: Vec<String>,
        ref_type: String,
        ref_id: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKind {
    Id,
    LastUpdated,
    Text,
    Date,
    Number,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    /// Index parameter (unused for Id/LastUpdated).
    pub param: String,
    pub kind: SortKind,
    pub desc: bool,
}

/// One value of a sort key, as carried in a paging cursor.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyValue {
    Int(i64),
    Real(f64),
    Text(String),
}

/// Position after the last row of the previous page.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    pub keys: Vec<KeyValue>,
    pub rid: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Total {
    None,
    /// The default (and `_total=estimate`): exact when the first page holds every match or when
    /// the search walks at most `TOTAL_COUNT_CAP` candidates, and left out otherwise, so that a
    /// broad search over millions of rows does not pay for a full COUNT on every page (measured:
    /// 20–40 s per COUNT over 1M resources on PostgreSQL).
    #[default]
    Estimate,
    Accurate,
}

/// The default of `search_total_cap`: how many candidates a default-total search may count, and
/// how many index rows each planning probe reads at most (see `store::search_sql::plan`).
pub const TOTAL_COUNT_CAP: i64 = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Summary {
    #[default]
    False,
    True,
    Text,
    Data,
    Count,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Include {
    pub source_type: String,
    /// None for `*` (every reference parameter).
    pub param: Option<String>,
    pub target_type: Option<String>,
    pub iterate: bool,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct SearchQuery {
    pub types: Vec<String>,
    pub filters: Vec<Filter>,
    pub sort: Vec<SortKey>,
    pub count: i64,
    pub cursor: Option<Cursor>,
    pub total: Total,
    pub summary: Summary,
    pub elements: Option<Vec<String>>,
    pub includes: Vec<Include>,
    pub revincludes: Vec<Include>,
}
