//! Search: criteria parsing, index extraction and query execution.
//! Today: `_id` and `identifier` (enough for conditional interactions); the full R4 engine grows here.

pub mod criteria;
pub mod extract;
pub mod tokenize;
