//! The crate's layering, checked: every `crate::…` path in `src/` points to a module of a
//! lower rank (or to the module itself), as the crate map in `src/lib.rs` describes. A new
//! top-level module must be given a rank here, so an arrow pointing up the layers cannot
//! slip in unnoticed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Rank of each top-level module; a module may use only modules of a lower rank.
const RANKS: &[(&str, u32)] = &[
    ("vocabulary", 0),
    // Test support for the property tests: uses nothing of the crate.
    ("fuzzing", 0),
    ("config", 1),
    ("clock", 1),
    ("pii", 1),
    ("identity", 1),
    ("telemetry", 2),
    ("encoder", 3),
    ("nlu", 4),
    ("content", 5),
    ("kb", 6),
    ("shop", 6),
    ("dialogue_memory", 6),
    ("conversation", 7),
    ("handoff", 8),
    ("moderation", 8),
    ("store", 9),
    ("realtime", 9),
    ("knowledge", 10),
    ("cluster", 10),
    ("dialogue", 11),
    ("service", 12),
    ("insights", 13),
    ("quality", 13),
    ("desk", 14),
    ("eval", 15),
    ("http", 15),
    ("server", 16),
    ("cli", 17),
];

fn rank(module: &str) -> Option<u32> {
    RANKS.iter().find(|(m, _)| *m == module).map(|(_, r)| *r)
}

/// The top-level module a source file belongs to (`src/desk/actions.rs` → `desk`).
fn owner(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    Some(first.trim_end_matches(".rs").to_string())
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "rs"))
        .map(|e| e.into_path())
        .collect()
}

#[test]
fn modules_only_use_modules_below_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut upward: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for file in rust_files(&src) {
        let Some(module) = owner(&src, &file) else {
            continue;
        };
        if module == "main" || module == "lib" {
            continue;
        }
        let own = rank(&module)
            .unwrap_or_else(|| panic!("src/{module} has no rank in tests/api/layers.rs"));
        let text = std::fs::read_to_string(&file).expect("readable source");
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            // Doc links may point anywhere; only code makes a dependency.
            if code.starts_with("//") {
                continue;
            }
            for (at, _) in code.match_indices("crate::") {
                let used: String = code[at + "crate::".len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                assert!(
                    !used.is_empty(),
                    "{}:{}: write one `use crate::module::…` per module, so this check sees it",
                    file.display(),
                    n + 1
                );
                if used == module {
                    continue;
                }
                let theirs = rank(&used).unwrap_or_else(|| {
                    panic!("{}:{} uses unknown module {used}", file.display(), n + 1)
                });
                if theirs >= own {
                    upward
                        .entry(format!("{module} → {used}"))
                        .or_default()
                        .push(format!(
                            "{}:{}",
                            file.strip_prefix(&src).unwrap_or(&file).display(),
                            n + 1
                        ));
                }
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports that point up (or sideways) the layers: {upward:#?}"
    );
}

#[test]
fn every_module_of_the_crate_map_has_a_rank() {
    let lib = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs"))
        .expect("src/lib.rs");
    for line in lib.lines() {
        if let Some(name) = line.strip_prefix("pub mod ") {
            let name = name.trim_end_matches(';');
            assert!(rank(name).is_some(), "{name} is in lib.rs but has no rank");
            assert!(
                lib.contains(&format!("[`{name}`]")),
                "the crate map in lib.rs does not describe {name}"
            );
        }
    }
}
