//! The top-level error type and its mapping to process exit codes.

use std::fmt;

/// Why a `pharos` command failed.
#[derive(Debug)]
pub enum Error {
    /// The configuration is invalid: every problem, each with its key path.
    Config(crate::config::ConfigErrors),
    /// A socket could not be bound or another start-up step failed.
    Startup(String),
    /// A running node stopped because one of its tasks failed.
    Runtime(String),
    /// A command talking to a server (soa-check, status) failed or found a mismatch.
    Check(String),
}

impl Error {
    /// Exit code: 1 for invalid input (config, check mismatch), 2 for start-up
    /// failures, 3 for a node that died while running.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_) | Error::Check(_) => 1,
            Error::Startup(_) => 2,
            Error::Runtime(_) => 3,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(errs) => write!(f, "{errs}"),
            Error::Startup(msg) => write!(f, "start-up failed: {msg}"),
            Error::Runtime(msg) => write!(f, "{msg}"),
            Error::Check(msg) => write!(f, "{msg}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<crate::config::ConfigErrors> for Error {
    fn from(e: crate::config::ConfigErrors) -> Self {
        Error::Config(e)
    }
}
