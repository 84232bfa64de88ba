//! Search: criteria parsing, index extraction and query execution.
//! Today: `_id` and `identifier` (enough for conditional interactions); the full R4 engine grows here.

pub mod criteria;
pub mod cursor;
pub mod custom;
pub mod extract;
pub mod normalize;
pub mod params;
pub mod query;
pub mod registry;
pub mod tokenize;
