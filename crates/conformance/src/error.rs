//! Typed errors for loading TestScripts.

use std::path::PathBuf;

use thiserror::Error;

/// Why a TestScript file (or one of its fixtures) could not be loaded.
#[derive(Debug, Error)]
pub enum LoadError {
    /// The file or directory could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid JSON.
    #[error("{path}: invalid JSON: {message}")]
    Json { path: PathBuf, message: String },
    /// XML TestScripts are not supported (JSON only).
    #[error("{path}: XML TestScripts are not supported (convert the script to JSON)")]
    Xml { path: PathBuf },
    /// Valid JSON but not a TestScript resource.
    #[error("{path}: not a TestScript (resourceType is {found:?})")]
    NotTestScript {
        path: PathBuf,
        found: Option<String>,
    },
    /// A TestScript element has the wrong JSON type or shape.
    #[error("{path}: invalid TestScript: {element}: {message}")]
    Invalid {
        path: PathBuf,
        element: String,
        message: String,
    },
    /// A path given on the command line matched no TestScript files.
    #[error("{path}: no *.json TestScript files found")]
    NothingFound { path: PathBuf },
}
