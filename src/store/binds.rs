//! Dynamic statements: SQL text plus a list of values bound as `$1..$n`, for queries whose shape
//! depends on the request (history filters, search criteria, multi-row inserts). Values never
//! enter the SQL text.

use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_query;
use diesel::sql_types::{BigInt, Double, Nullable, Text};

use super::conn::{Backend, MultiBackend};

#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    Text(String),
    Int(i64),
    OptText(Option<String>),
    OptInt(Option<i64>),
    OptDouble(Option<f64>),
    Double(f64),
}

/// Collects binds and hands out their `$n` placeholder as they are added.
#[derive(Debug, Default)]
pub struct Binds {
    values: Vec<Bind>,
}

impl Binds {
    fn push(&mut self, b: Bind) -> String {
        self.values.push(b);
        format!("${}", self.values.len())
    }

    pub fn text(&mut self, v: impl Into<String>) -> String {
        self.push(Bind::Text(v.into()))
    }

    pub fn int(&mut self, v: i64) -> String {
        self.push(Bind::Int(v))
    }

    pub fn double(&mut self, v: f64) -> String {
        self.push(Bind::Double(v))
    }

    pub fn opt_text(&mut self, v: Option<String>) -> String {
        self.push(Bind::OptText(v))
    }

    pub fn opt_int(&mut self, v: Option<i64>) -> String {
        self.push(Bind::OptInt(v))
    }

    pub fn opt_double(&mut self, v: Option<f64>) -> String {
        self.push(Bind::OptDouble(v))
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The statement with its binds. SQLite reads `$N` as a *named* parameter numbered by first
    /// appearance, so a statement that mentions `$4` before `$3` would swap them there; it gets the
    /// positional `?N` form instead, which means the same on SQLite whatever the order.
    pub fn query(
        self,
        sql: String,
        backend: Backend,
    ) -> BoxedSqlQuery<'static, MultiBackend, SqlQuery> {
        let sql = match backend {
            Backend::Postgres => sql,
            Backend::Sqlite => sql.replace('$', "?"),
        };
        let mut q = sql_query(sql).into_boxed::<MultiBackend>();
        for b in self.values {
            q = match b {
                Bind::Text(s) => q.bind::<Text, _>(s),
                Bind::Int(i) => q.bind::<BigInt, _>(i),
                Bind::Double(d) => q.bind::<Double, _>(d),
                Bind::OptText(s) => q.bind::<Nullable<Text>, _>(s),
                Bind::OptInt(i) => q.bind::<Nullable<BigInt>, _>(i),
                Bind::OptDouble(d) => q.bind::<Nullable<Double>, _>(d),
            };
        }
        q
    }
}
