//! Browser tests: the widget on `/demo`, the agent console on `/console` and the support
//! lead's dashboard on `/admin`, driven in headless Chromium (Debian's `chromium` and
//! `chromium-driver`; `.ci/run` installs them) against the real server. Screenshots of the
//! key screens go to `target/screenshots/`.

#[path = "../api/database.rs"]
#[allow(dead_code)]
mod database;
#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

mod admin;
mod chrome;
mod console;
mod welcome;
mod widget;
