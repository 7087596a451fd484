//! Subcommands whose code is the command line's own, not the server's.

pub mod test;
