//! Subcommands whose code is the command line's own, not the server's.

pub mod admin;
pub mod build;
pub mod check;
pub mod test;
