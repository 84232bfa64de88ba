//! Dynamic statements: SQL text plus a list of values bound as `$1..$n`, for queries whose shape
//! depends on the request (history filters, search criteria). Values never enter the SQL text.

use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_query;
use diesel::sql_types::{BigInt, Text};

use super::conn::MultiBackend;

#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    Text(String),
    Int(i64),
}

/// Collects binds and hands out their `$n` placeholder as they are added.
#[derive(Debug, Default)]
pub struct Binds {
    values: Vec<Bind>,
}

impl Binds {
    pub fn text(&mut self, v: impl Into<String>) -> String {
        self.values.push(Bind::Text(v.into()));
        format!("${}", self.values.len())
    }

    pub fn int(&mut self, v: i64) -> String {
        self.values.push(Bind::Int(v));
        format!("${}", self.values.len())
    }

    pub fn query(self, sql: String) -> BoxedSqlQuery<'static, MultiBackend, SqlQuery> {
        let mut q = sql_query(sql).into_boxed::<MultiBackend>();
        for b in self.values {
            q = match b {
                Bind::Text(s) => q.bind::<Text, _>(s),
                Bind::Int(i) => q.bind::<BigInt, _>(i),
            };
        }
        q
    }
}
