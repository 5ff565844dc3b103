//! Integration tests: the real server on a random port, spoken to over HTTP.

mod bad_input;
mod cli;
mod handoff;
mod helpers;
mod restart;
mod shopper;
mod understanding;
