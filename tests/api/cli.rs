//! The `baton` binary: lint reports content problems with file and line; serve refuses
//! invalid content with the same messages.

use std::path::Path;
use std::process::Command;

use crate::helpers::repo;

fn baton() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_baton"));
    // Keep the developer's environment and config file out of the test.
    c.env_remove("BATON_CONFIG")
        .current_dir(std::env::temp_dir());
    c
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let target = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn lint_passes_on_the_sample_content() {
    let out = baton()
        .args(["lint", "--kb"])
        .arg(repo().join("kb"))
        .arg("--intents")
        .arg(repo().join("intents"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("0 error(s)"), "{stderr}");
}

#[test]
fn a_broken_faq_file_is_reported_with_file_and_line_and_blocks_serve() {
    let dir = tempfile::tempdir().unwrap();
    let kb = dir.path().join("kb");
    copy_dir(&repo().join("kb"), &kb);
    let broken = kb.join("orders").join("broken.zh.md");
    std::fs::write(
        &broken,
        "---\nid: broken\nlang: zh\nquestion: [没有闭合\n---\n答案\n",
    )
    .unwrap();

    let out = baton()
        .args(["lint", "--kb"])
        .arg(&kb)
        .arg("--intents")
        .arg(repo().join("intents"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected = format!("{}:", broken.display());
    let line = stderr
        .lines()
        .find(|l| l.starts_with(&expected))
        .unwrap_or_else(|| panic!("{stderr}"));
    let after = &line[expected.len()..];
    assert!(
        after.split(':').next().unwrap().parse::<usize>().is_ok(),
        "a line number: {line}"
    );

    let json = baton()
        .args(["lint", "--format", "json", "--kb"])
        .arg(&kb)
        .arg("--intents")
        .arg(repo().join("intents"))
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["errors"], 1);
    assert_eq!(report["diagnostics"][0]["severity"], "error");

    let serve = baton()
        .args(["serve", "--addr", "127.0.0.1:0", "--kb"])
        .arg(&kb)
        .arg("--intents")
        .arg(repo().join("intents"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert_eq!(serve.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&serve.stderr);
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn unknown_configuration_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("baton.toml");
    std::fs::write(&file, "[policy]\nanswer_treshold = 0.5\n").unwrap();
    let out = baton()
        .arg("--config")
        .arg(&file)
        .args(["lint"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("answer_treshold"));
}
