//! Browser tests: the widget on `/demo`, the agent console on `/console` and the support
//! lead's dashboard on `/admin`, driven in headless Chromium (Debian's `chromium` and
//! `chromium-driver`; `.ci/run` installs them) against the real server. Screenshots of the
//! key screens go to `target/screenshots/`.
//!
//! The console and the dashboard follow the reader's language, which would make these tests
//! depend on the browser's: each opens them with `?lang=zh` or `?lang=en` (which the page
//! honours and stores), in the language of the texts it looks for.

#[path = "../api/database.rs"]
#[allow(dead_code)]
mod database;
#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

mod admin;
mod chrome;
mod console;
mod language;
mod moderation;
mod quality;
mod rules;
mod supervisor;
mod welcome;
mod widget;
