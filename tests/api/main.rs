//! Integration tests: the real server on a random port, spoken to over HTTP and WebSockets
//! (and the real binary, for the command line and a crash).

mod access;
mod admin;
mod agents;
mod authz;
mod bad_input;
mod cli;
mod cluster;
mod crash;
mod database;
mod edge;
mod faq_handoff;
mod handoff;
mod helpers;
mod identity;
mod knowledge;
mod layers;
mod limits;
mod masking;
mod migrate_store;
mod moderation;
mod openapi;
mod orders;
mod pages;
mod privacy;
mod realtime;
mod reception;
mod reload;
mod restart;
mod rules;
mod shopper;
mod stats;
mod supervisor;
mod understanding;
mod welcome;
mod wrap_up;
