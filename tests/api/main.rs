//! Integration tests: the real server on a random port, spoken to over HTTP and WebSockets
//! (and the real binary, for the command line and a crash).

mod admin;
mod agents;
mod bad_input;
mod cli;
mod crash;
mod handoff;
mod helpers;
mod identity;
mod knowledge;
mod layers;
mod pages;
mod realtime;
mod reload;
mod restart;
mod shopper;
mod stats;
mod understanding;
