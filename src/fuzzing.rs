//! Shared pieces of the parsers' property tests (`fuzz_*`): how many cases to run, and
//! generators that start from the real sample files and damage them, so the search spends
//! its time near valid input where parsers have the most branches, not only on noise.
//!
//! `cargo test` runs each property with a small default; `PROPTEST_CASES=N` raises every one
//! of them for a long run (`ProptestConfig::with_cases` alone would ignore the variable).

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::sample::Index;

/// Cases per property: `PROPTEST_CASES` when set, else `default`.
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

/// The config for a property: [`cases`], and no shrinking marathon on a long run.
pub fn config(default: u32) -> ProptestConfig {
    ProptestConfig {
        cases: cases(default),
        max_shrink_iters: 2048,
        ..ProptestConfig::default()
    }
}

/// Every file under `dir` (relative to the crate) with one of `extensions`, with its text.
pub fn samples(dir: &str, extensions: &[&str]) -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut out: Vec<(PathBuf, String)> = walkdir::WalkDir::new(&root)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter(|e| {
            e.path()
                .extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| extensions.contains(&x))
                && !e.file_name().eq_ignore_ascii_case("readme.md")
        })
        .map(|e| {
            let text = std::fs::read_to_string(e.path()).expect("sample files are UTF-8");
            (e.path().to_path_buf(), text)
        })
        .collect();
    assert!(!out.is_empty(), "no samples under {}", root.display());
    out.sort();
    out
}

/// Text that parsers of these formats treat specially.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(vec![
            "---", "--- ", "...", "\t", "\u{feff}", "\r\n", "\r", "\n", "\n\n", " ", ":", ": ",
            "- ", "-", "#", "# x", "[", "]", "{", "}", ",", "\"", "'", "\\", "|", ">", "|-",
            "&a ", "*a", "!!str ", "!!binary ", "!tag ", "? ", "<<: *a", "%YAML 1.2", "~",
            "null", "true", "0x7fffffffffffffffff", "99999999999999999999999999999",
            "-1e400", "1e400", "nan", ".nan", "inf", "-0", "1_000", "0o777",
            "=", "[[", "]]", "[a.b]", "[[a]]", "\"\"\"", "'''", "inf", "+inf",
            "id:", "lang:", "question:", "alternates:", "tags:", "skill:", "action:",
            "examples:", "zh:", "en:", "replies:", "faqs:", "priority:",
            "escalation_reason:", "description:", "lang: zh", "lang: en", "lang: fr",
            "action: escalate", "action: out_of_scope", "priority: urgent",
            "[policy]", "[hours]", "[hours.skills.x]", "open = \"25:61\"",
            "close = \"24:00\"", "timezone = \"Mars/Base\"", "days = [\"funday\"]",
            "](", "](x)", "[a](b)", "\u{0}", "\u{7f}", "\u{85}", "\u{2028}", "\u{200b}",
            "é", "e\u{301}", "ﬁ", "ＡＢＣ", "發票", "😀", "\u{10ffff}", "İ",
        ])
        .prop_map(String::from),
        1 => (1..300usize, proptest::sample::select(vec!["[", "{", "- ", "  ", "a:\n "]))
            .prop_map(|(n, s)| s.repeat(n)),
        1 => (1..40usize).prop_map(|n| "9".repeat(n * 10)),
        2 => any::<String>(),
        1 => "[ -~]{0,20}",
    ]
}

/// One way of damaging a file.
#[derive(Debug, Clone)]
enum Mutation {
    DeleteLine(Index),
    DuplicateLine(Index),
    SwapLines(Index, Index),
    InsertLine(Index, String),
    ReplaceLine(Index, String),
    InsertText(Index, String),
    DeleteChars(Index, usize),
    Truncate(Index),
    IndentLine(Index, &'static str),
    Crlf,
    Bom,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => any::<Index>().prop_map(Mutation::DeleteLine),
        2 => any::<Index>().prop_map(Mutation::DuplicateLine),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        3 => (any::<Index>(), fragment()).prop_map(|(i, s)| Mutation::InsertLine(i, s)),
        2 => (any::<Index>(), fragment()).prop_map(|(i, s)| Mutation::ReplaceLine(i, s)),
        4 => (any::<Index>(), fragment()).prop_map(|(i, s)| Mutation::InsertText(i, s)),
        2 => (any::<Index>(), 1..8usize).prop_map(|(i, n)| Mutation::DeleteChars(i, n)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        1 => (any::<Index>(), proptest::sample::select(vec!["\t", " ", "  ", "    "]))
            .prop_map(|(i, s)| Mutation::IndentLine(i, s)),
        1 => Just(Mutation::Crlf),
        1 => Just(Mutation::Bom),
    ]
}

/// The char boundary of `text` nearest below the position `i` picks.
fn boundary(text: &str, i: &Index) -> usize {
    let mut at = i.index(text.len() + 1);
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn apply(text: &mut String, m: &Mutation) {
    let mut lines: Vec<String> = text.split('\n').map(String::from).collect();
    let n = lines.len();
    match m {
        Mutation::DeleteLine(i) => {
            lines.remove(i.index(n));
        }
        Mutation::DuplicateLine(i) => {
            let k = i.index(n);
            lines.insert(k, lines[k].clone());
        }
        Mutation::SwapLines(a, b) => lines.swap(a.index(n), b.index(n)),
        Mutation::InsertLine(i, s) => lines.insert(i.index(n + 1), s.clone()),
        Mutation::ReplaceLine(i, s) => lines[i.index(n)] = s.clone(),
        Mutation::IndentLine(i, s) => lines[i.index(n)].insert_str(0, s),
        Mutation::InsertText(i, s) => {
            let at = boundary(text, i);
            text.insert_str(at, s);
            return;
        }
        Mutation::DeleteChars(i, count) => {
            let at = boundary(text, i);
            let end = text[at..]
                .char_indices()
                .nth(*count)
                .map_or(text.len(), |(k, _)| at + k);
            text.replace_range(at..end, "");
            return;
        }
        Mutation::Truncate(i) => {
            let at = boundary(text, i);
            text.truncate(at);
            return;
        }
        Mutation::Crlf => {
            *text = text.replace('\n', "\r\n");
            return;
        }
        Mutation::Bom => {
            text.insert(0, '\u{feff}');
            return;
        }
    }
    *text = lines.join("\n");
}

/// One of `seeds`, damaged by up to `max` mutations, with its index (zero mutations leave
/// it valid, which keeps the valid path in the mix).
pub fn mutated(seeds: Vec<String>, max: usize) -> impl Strategy<Value = (usize, String)> {
    let n = seeds.len();
    (0..n, proptest::collection::vec(mutation(), 0..=max)).prop_map(move |(k, ms)| {
        let mut text = seeds[k].clone();
        for m in &ms {
            apply(&mut text, m);
        }
        (k, text)
    })
}

/// Arbitrary text of three kinds: any Unicode, printable ASCII with line structure, and
/// lines of the fragments above.
pub fn arbitrary_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~\t\n]{0,200}",
        proptest::collection::vec(fragment(), 0..30).prop_map(|v| v.join("\n")),
        proptest::collection::vec(fragment(), 0..30).prop_map(|v| v.concat()),
    ]
}

/// The 1-based line numbers a diagnostic may point at in `text`: its lines as an editor
/// counts them (a lone CR breaks a line), plus the empty line after a final newline (where
/// editors put the cursor at the end of the file).
pub fn line_in(text: &str, line: usize) -> bool {
    // Counted here rather than with the parsers' own helper: the oracle stays independent.
    let lines = text
        .replace("\r\n", "\n")
        .replace('\r', "\n")
        .lines()
        .count();
    (1..=lines + 1).contains(&line)
}
