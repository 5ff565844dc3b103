//! Personal data in free text: finding it (for the agent's context view) and masking it
//! (for logs, summaries and anything shown before an agent explicitly opens it).
//!
//! Recognised: mainland mobile numbers (with or without a `+86` / `0086` prefix), e-mail
//! addresses, 18-digit resident ID numbers (last character a digit or `X`), bank card
//! numbers (13–19 digits), and street addresses (Chinese `…路/街/道…号` and English
//! `123 Some Street`). Order numbers (`MM` + 12 digits) are not personal and stay readable.
//!
//! Shoppers write numbers in many ways, and masking must not be dodged by the writing, so
//! the patterns run on a *folded view* of the text, never on the text itself:
//!
//! - compatibility forms are folded (NFKD per character): full-width `１３９`, `＠`, `．`,
//!   circled `①`, superscripts and the like become their ASCII look-alikes;
//! - invisible characters (zero-width spaces and joiners, BOM, bidi controls, soft hyphen,
//!   variation selectors, combining marks such as the keycap `⃣`) are dropped;
//! - digits of other scripts (Arabic-Indic, Devanagari, Thai, …) and Chinese numerals
//!   (`〇零一二三四五六七八九`, the financial `壹贰叁…`, and `两`/`幺` as read in phone
//!   numbers) become ASCII digits;
//! - runs of digits are then chained across short *joiners* (up to three of space, `.`,
//!   `-`, `_`, `/`, `\`, `|`, `,`, `、`, `+`, `(`, `)`, `·` and dashes), so `139 1234 5678`,
//!   `139-1234-5678` and `1 3 9 1 2 3 4 5 6 7 8` read as one number. Letters never join but
//!   never separate either: `tel13912345678` is a phone number.
//!
//! Inside a chain, a number must start and end on whole digit runs (`13912345678 3件` is a
//! phone and a quantity; `139123456785` is neither); of the ways to cut a chain into
//! numbers, the one that covers the most digits wins, so masking errs on hiding. Chains that
//! read only as dates or prices (`2026-11-11 2026-11-12`) are not taken for card numbers.
//!
//! Every byte of the folded view remembers the range of the original character it came
//! from, so a match maps back to the original span (from the first matched character's
//! start to the last one's end, invisible characters inside included). Masking replaces
//! that original span with a canonical masked value (`139****5678`), and revealing returns
//! the original span exactly as the shopper wrote it.
//!
//! Cost: text that is pure ASCII is scanned as is; otherwise one pass builds the folded
//! view. The patterns are compiled once.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};
use unicode_normalization::char::{decompose_compatible, is_combining_mark};

/// What kind of thing an entity is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    OrderNumber,
    Phone,
    Email,
    IdNumber,
    CardNumber,
    Address,
}

impl EntityKind {
    /// Whether it is personal data, masked until an agent opens it.
    pub fn is_personal(self) -> bool {
        !matches!(self, EntityKind::OrderNumber)
    }
}

/// Something found in a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entity {
    pub kind: EntityKind,
    /// The value with personal data masked.
    pub masked: String,
}

/// Compiles a built-in pattern; a bad one is a bug caught by the first test that runs.
fn pattern(re: &str) -> Regex {
    Regex::new(re).unwrap_or_else(|e| panic!("built-in pattern {re}: {e}"))
}

// Boundaries are ASCII (`(?-u:\b)`): Unicode `\b` sees none between 单 and M.
static ORDER_NUMBER: LazyLock<Regex> =
    LazyLock::new(|| pattern(r"(?i)(?-u:\b)MM[0-9]{12}(?-u:\b)"));
static EMAIL: LazyLock<Regex> =
    LazyLock::new(|| pattern(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"));
static ADDRESSES: LazyLock<[Regex; 2]> = LazyLock::new(|| {
    [
        pattern(
            r"[\p{Han}]{2,}(?:路|街|道|巷|弄|大道)\s*\d+\s*(?:号|號)(?:[\p{Han}\d\-]*?(?:室|楼|栋|单元))?",
        ),
        pattern(
            r"(?i)\b\d{1,5}\s+(?:[A-Z][a-z]+\s+){1,3}(?:street|st|road|rd|avenue|ave|lane|ln|drive|dr|boulevard|blvd)\b\.?",
        ),
    ]
});

// ---------------------------------------------------------------------------------------
// The folded view

/// The text the patterns read, and where each of its bytes came from.
struct Folded<'a> {
    text: Cow<'a, str>,
    /// For each byte of `text`, the byte range of the original character it came from;
    /// empty when `text` is the original itself (pure ASCII needs no folding).
    origin: Vec<(usize, usize)>,
}

impl<'a> Folded<'a> {
    fn new(original: &'a str) -> Self {
        if original.is_ascii() {
            return Folded {
                text: Cow::Borrowed(original),
                origin: Vec::new(),
            };
        }
        let mut text = String::with_capacity(original.len());
        let mut origin = Vec::with_capacity(original.len());
        for (at, c) in original.char_indices() {
            let from = (at, at + c.len_utf8());
            fold_char(c, |f| {
                text.push(f);
                origin.extend(std::iter::repeat_n(from, f.len_utf8()));
            });
        }
        Folded {
            text: Cow::Owned(text),
            origin,
        }
    }

    /// The original byte range of the folded range `start..end` (not empty).
    fn original(&self, start: usize, end: usize) -> (usize, usize) {
        if self.origin.is_empty() {
            return (start, end);
        }
        (self.origin[start].0, self.origin[end - 1].1)
    }
}

/// Emits what `c` reads as: nothing for invisible characters, an ASCII digit for any
/// digit or numeral, the compatibility decomposition for look-alikes, else `c` itself.
fn fold_char(c: char, mut emit: impl FnMut(char)) {
    if c.is_ascii() {
        emit(c);
        return;
    }
    decompose_compatible(c, |d| {
        if is_invisible(d) {
            return;
        }
        match digit_value(d) {
            Some(v) => emit(char::from(b'0' + v)),
            None => emit(d),
        }
    });
}

/// Characters that show nothing (or only decorate the one before) and so can hide inside
/// a number: format controls, variation selectors, combining and enclosing marks.
fn is_invisible(c: char) -> bool {
    is_combining_mark(c)
        || matches!(
            c,
            '\u{00AD}'
                | '\u{061C}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

/// The first code point of each block of ten decimal digits of other scripts (full-width
/// and mathematical digits are folded by NFKD already).
const DIGIT_ZEROS: [u32; 22] = [
    0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6, 0x0D66,
    0x0DE6, 0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0,
];

/// The value of a digit of any script or a Chinese numeral.
fn digit_value(c: char) -> Option<u8> {
    let chinese = match c {
        '〇' | '零' => Some(0),
        '一' | '壹' | '幺' => Some(1),
        '二' | '贰' | '貳' | '两' | '兩' => Some(2),
        '三' | '叁' | '參' => Some(3),
        '四' | '肆' => Some(4),
        '五' | '伍' => Some(5),
        '六' | '陆' | '陸' => Some(6),
        '七' | '柒' => Some(7),
        '八' | '捌' => Some(8),
        '九' | '玖' => Some(9),
        _ => None,
    };
    chinese.or_else(|| {
        let u = u32::from(c);
        DIGIT_ZEROS
            .iter()
            .find(|&&zero| (zero..zero + 10).contains(&u))
            .and_then(|&zero| u8::try_from(u - zero).ok())
    })
}

// ---------------------------------------------------------------------------------------
// Numbers written across joiners

/// At most this many joiner characters may stand between two runs of one number.
const MAX_JOINERS: usize = 3;

/// Characters that may separate the digit groups of one number (in the folded view). A
/// colon is not one, so times (`10:30`) stay apart from what surrounds them.
fn is_joiner(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '.' | '-'
                | '_'
                | '/'
                | '\\'
                | '|'
                | ','
                | '、'
                | '+'
                | '('
                | ')'
                | '·'
                | '•'
                | '\u{2010}'..='\u{2015}'
                | '\u{2212}'
                // Emoji and pictographs between digit groups hide nothing either.
                | '\u{2600}'..='\u{27BF}'
                | '\u{1F000}'..='\u{1FAFF}'
        )
}

/// A maximal run of ASCII digits in the folded view.
#[derive(Debug, Clone, Copy)]
struct Run {
    start: usize,
    end: usize,
}

/// Whether `start..end` of the folded text is a short stretch of joiners only.
fn joins(folded: &str, start: usize, end: usize) -> bool {
    let gap = &folded[start..end];
    let mut count = 0;
    for c in gap.chars() {
        count += 1;
        if count > MAX_JOINERS || !is_joiner(c) {
            return false;
        }
    }
    count > 0
}

/// The digit runs of `folded` outside `taken`, grouped into chains of runs that joiners
/// connect.
fn chains(folded: &str, taken: &[Found]) -> Vec<Vec<Run>> {
    let bytes = folded.as_bytes();
    let mut out: Vec<Vec<Run>> = Vec::new();
    let mut chain: Vec<Run> = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        if !bytes[at].is_ascii_digit() {
            at += 1;
            continue;
        }
        let start = at;
        while at < bytes.len() && bytes[at].is_ascii_digit() {
            at += 1;
        }
        let run = Run { start, end: at };
        let is_taken = taken.iter().any(|f| f.start < run.end && run.start < f.end);
        let joined = chain
            .last()
            .is_some_and(|last| joins(folded, last.end, run.start));
        if (is_taken || !joined) && !chain.is_empty() {
            out.push(std::mem::take(&mut chain));
        }
        if !is_taken {
            chain.push(run);
        }
    }
    if !chain.is_empty() {
        out.push(chain);
    }
    out
}

/// The longest digit string a number can have (a card, or a phone with `0086`).
const MAX_DIGITS: usize = 19;

/// The numbers in one chain: the cut into whole-run numbers that covers the most digits
/// outside dates and firm prices, and of those the one that takes the fewest date digits
/// (`13912345678 2026-11-11` is a phone and a date, not one card).
fn numbers_in_chain(folded: &str, chain: &[Run]) -> Vec<Found> {
    let n = chain.len();
    let atoms = Atoms::of(folded, chain);
    // best[i]: the best score of a cut of runs i.. ; pick[i]: the number starting at run i
    // in that best cut (its last run, kind and end in the folded text), if any.
    let mut best = vec![Coverage::default(); n + 1];
    let mut pick: Vec<Option<(usize, EntityKind, usize)>> = vec![None; n + 1];
    let mut digits = String::with_capacity(MAX_DIGITS + 1);
    for i in (0..n).rev() {
        best[i] = best[i + 1];
        if !atoms.may_start[i] {
            continue;
        }
        digits.clear();
        for j in i..n {
            digits.push_str(&folded[chain[j].start..chain[j].end]);
            if digits.len() > MAX_DIGITS {
                break;
            }
            if !atoms.may_end[j] {
                continue;
            }
            let Some((kind, end)) = classify(&digits, folded, chain, &atoms, i, j) else {
                continue;
            };
            let covered = Coverage::of(&atoms, chain, i, j, end).plus(best[j + 1]);
            if covered > best[i] {
                best[i] = covered;
                pick[i] = Some((j, kind, end));
            }
        }
    }
    let mut found = Vec::new();
    let mut i = 0;
    while i < n {
        let Some((j, kind, end)) = pick[i] else {
            i += 1;
            continue;
        };
        found.push(number_found(folded, chain[i].start, end, kind));
        i = j + 1;
    }
    found
}

/// How much of a chain a cut covers, best first when compared: the digits outside dates
/// and firm prices (an ID's `X` included), then the fewest digits taken from dates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
struct Coverage {
    own_digits: usize,
    spared_date_digits: std::cmp::Reverse<usize>,
}

impl Coverage {
    /// The coverage of one number made of runs `i..=j` and ending at `end`.
    fn of(atoms: &Atoms, chain: &[Run], i: usize, j: usize, end: usize) -> Self {
        let mut own_digits = usize::from(end > chain[j].end);
        let mut date_digits = 0;
        for (run, inside) in chain[i..=j].iter().zip(&atoms.inside[i..=j]) {
            let len = run.end - run.start;
            match inside {
                None | Some(Firmness::Soft) => own_digits += len,
                Some(Firmness::Date) => date_digits += len,
                Some(Firmness::Hard) => {}
            }
        }
        Coverage {
            own_digits,
            spared_date_digits: std::cmp::Reverse(date_digits),
        }
    }

    fn plus(self, other: Coverage) -> Self {
        Coverage {
            own_digits: self.own_digits + other.own_digits,
            spared_date_digits: std::cmp::Reverse(
                self.spared_date_digits.0 + other.spared_date_digits.0,
            ),
        }
    }
}

/// A number found at `start..end` of the folded text.
fn number_found(folded: &str, mut start: usize, end: usize, kind: EntityKind) -> Found {
    let digits: String = folded[start..end]
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == 'X' || *c == 'x')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    // `+86 139…`: the plus belongs to the number.
    if kind == EntityKind::Phone && digits.len() > 11 && folded[..start].ends_with('+') {
        start -= 1;
    }
    Found {
        start,
        end,
        kind,
        masked: mask_digits(kind, &digits),
    }
}

/// Harmless numbers inside a chain ("atoms"): dates (`2026-11-11`), prices (`¥199.00`,
/// `199.00`) and the parts of times (`10:30`). No number is made of atoms only, and none starts or ends inside a date or a price. How firmly an atom stands apart from the
/// digits next to it is its [`Firmness`].
struct Atoms {
    may_start: Vec<bool>,
    may_end: Vec<bool>,
    /// The firmness of the atom each run is part of, if any.
    inside: Vec<Option<Firmness>>,
    /// How firm the atom is that begins, or ends, at each run.
    opens: Vec<Firmness>,
    closes: Vec<Firmness>,
}

/// Whether an atom may open or close a number.
///
/// A time, or a price marked with a currency, never does: `¥199.00 139…` is a price and a
/// phone. A date does when a few digits of the number's own stand next to it and no
/// better cut leaves the date whole: `2026-11-11 13812345678` is a date and a phone, but
/// `13815 1909.1.4` is one phone whose last digits happen to look like a date. A bare
/// price (`7.12`) always may: a card written `…0173 7.12` is still one card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Firmness {
    Soft,
    Date,
    Hard,
}

/// How many digits outside any atom a number that opens or closes at a date needs.
const MIN_LOOSE_DIGITS: usize = 3;

/// An atom found at a run: how many runs it spans and how firm it is.
struct Atom {
    runs: usize,
    firmness: Firmness,
}

impl Atoms {
    fn of(folded: &str, chain: &[Run]) -> Self {
        let n = chain.len();
        let mut atoms = Atoms {
            may_start: vec![true; n],
            may_end: vec![true; n],
            inside: vec![None; n],
            opens: vec![Firmness::Soft; n],
            closes: vec![Firmness::Soft; n],
        };
        let mut k = 0;
        while k < n {
            let Some(atom) = atom_at(folded, chain, k) else {
                k += 1;
                continue;
            };
            let last = k + atom.runs - 1;
            atoms.opens[k] = atom.firmness;
            atoms.closes[last] = atom.firmness;
            for r in k..=last {
                atoms.inside[r] = Some(atom.firmness);
                atoms.may_start[r] = r == k;
                atoms.may_end[r] = r == last;
            }
            k = last + 1;
        }
        atoms
    }
}

/// Signs that mark the number after them as an amount of money.
fn is_currency(c: char) -> bool {
    matches!(c, '¥' | '$' | '€' | '£')
}

/// The atom that starts at run `k`, if any. A date or price counts only where its
/// separator does not go on either side: `62.22.02.12` is no price.
fn atom_at(folded: &str, chain: &[Run], k: usize) -> Option<Atom> {
    let gap = |a: usize| &folded[chain[a].end..chain[a + 1].start];
    let text = |r: usize| &folded[chain[r].start..chain[r].end];
    let isolated = |first: usize, last: usize, sep: &str| {
        (first == 0 || gap(first - 1) != sep) && (last + 1 >= chain.len() || gap(last) != sep)
    };
    let small = |r: usize, hi: u32| {
        let t = text(r);
        t.len() <= 2 && t.parse::<u32>().is_ok_and(|v| (1..=hi).contains(&v))
    };
    let before = folded[..chain[k].start].chars().next_back();
    if k + 2 < chain.len() {
        let sep = gap(k);
        let date = matches!(sep, "-" | "/" | ".")
            && gap(k + 1) == sep
            && text(k).len() == 4
            && matches!(&text(k)[..2], "19" | "20")
            && small(k + 1, 12)
            && small(k + 2, 31)
            && isolated(k, k + 2, sep);
        if date {
            return Some(Atom {
                runs: 3,
                firmness: Firmness::Date,
            });
        }
    }
    let marked = before.is_some_and(is_currency);
    if k + 1 < chain.len()
        && gap(k) == "."
        && text(k + 1).len() == 2
        && text(k).len() <= 7
        // `00000.01` is no amount anyone writes.
        && (text(k).len() == 1 || !text(k).starts_with('0'))
        && isolated(k, k + 1, ".")
    {
        let after = folded[chain[k + 1].end..].chars().next();
        let firm = marked || after.is_some_and(|c| matches!(c, '元' | '块' | '圆'));
        let firmness = if firm { Firmness::Hard } else { Firmness::Soft };
        return Some(Atom { runs: 2, firmness });
    }
    (is_time_part(folded, chain[k]) || marked).then_some(Atom {
        runs: 1,
        firmness: Firmness::Hard,
    })
}

/// Whether a run is the hour or the minutes of a time (`9:05`, `10:30`).
fn is_time_part(folded: &str, run: Run) -> bool {
    let b = folded.as_bytes();
    let digit = |at: Option<usize>| at.and_then(|i| b.get(i)).is_some_and(u8::is_ascii_digit);
    let len = run.end - run.start;
    let minutes =
        len == 2 && run.start >= 1 && b[run.start - 1] == b':' && digit(run.start.checked_sub(2));
    let hour = len <= 2 && b.get(run.end) == Some(&b':') && digit(Some(run.end + 1));
    minutes || hour
}

/// What the digits of runs `i..=j` are, and where the number ends in the folded text (an
/// ID number's final `X` may follow the digits).
fn classify(
    digits: &str,
    folded: &str,
    chain: &[Run],
    atoms: &Atoms,
    i: usize,
    j: usize,
) -> Option<(EntityKind, usize)> {
    let len = digits.len();
    let end = chain[j].end;
    let atoms_only = atoms.inside[i..=j].iter().all(Option::is_some);
    if atoms_only {
        return None;
    }
    let edge = atoms.opens[i].max(atoms.closes[j]);
    // Two dates and a quantity are no ID number: a date yields only to digits of its own.
    let loose: usize = (i..=j)
        .filter(|&r| atoms.inside[r].is_none())
        .map(|r| chain[r].end - chain[r].start)
        .sum();
    let edge_allows =
        edge == Firmness::Soft || (edge == Firmness::Date && loose >= MIN_LOOSE_DIGITS);
    if len == 17
        && edge_allows
        && is_id_number(digits, true)
        && let Some(x_end) = check_x(folded, end)
    {
        return Some((EntityKind::IdNumber, x_end));
    }
    if len == 18 && edge_allows && is_id_number(digits, false) {
        return Some((EntityKind::IdNumber, end));
    }
    if national_phone(digits).is_some() && edge_allows {
        return Some((EntityKind::Phone, end));
    }
    if (13..=MAX_DIGITS).contains(&len) && edge_allows {
        return Some((EntityKind::CardNumber, end));
    }
    None
}

/// Where an ID number's check character `X` ends, if one follows `at` (after joiners).
fn check_x(folded: &str, at: usize) -> Option<usize> {
    let rest = &folded[at..];
    let skipped = rest
        .char_indices()
        .take(MAX_JOINERS + 1)
        .find(|(_, c)| !is_joiner(*c))?;
    let (offset, c) = skipped;
    if !matches!(c, 'X' | 'x') {
        return None;
    }
    let after = rest[offset + 1..].chars().next();
    (!after.is_some_and(char::is_alphanumeric)).then_some(at + offset + 1)
}

/// The 11-digit mobile number in `digits`, which may carry a `86` or `0086` prefix.
fn national_phone(digits: &str) -> Option<&str> {
    let national = match digits.len() {
        11 => digits,
        13 => digits.strip_prefix("86")?,
        15 => digits.strip_prefix("0086")?,
        _ => return None,
    };
    let b = national.as_bytes();
    (b.len() == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1])).then_some(national)
}

/// A resident ID number: area (6 digits, not starting with 0), birth date 19xx/20xx,
/// sequence (3), check digit; `x_follows` when the check character is an `X` not in
/// `digits`.
fn is_id_number(digits: &str, x_follows: bool) -> bool {
    let b = digits.as_bytes();
    let full = if x_follows { 17 } else { 18 };
    if b.len() != full || !b.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let two = |at: usize| u32::from(b[at] - b'0') * 10 + u32::from(b[at + 1] - b'0');
    b[0] != b'0'
        && matches!(&digits[6..8], "19" | "20")
        && (1..=12).contains(&two(10))
        && (1..=31).contains(&two(12))
}

// ---------------------------------------------------------------------------------------
// Finding everything

/// An entity in folded coordinates, with its masked value.
#[derive(Debug, Clone)]
struct Found {
    start: usize,
    end: usize,
    kind: EntityKind,
    masked: String,
}

/// The canonical masked form of a number, from its digits (an ID's may end in `X`).
fn mask_digits(kind: EntityKind, digits: &str) -> String {
    let stars = |n: usize| "*".repeat(n);
    let len = digits.len();
    match kind {
        EntityKind::Phone => match national_phone(digits) {
            Some(n) => format!("{}{}{}", &n[..3], stars(4), &n[7..]),
            None => stars(len),
        },
        EntityKind::IdNumber if len == 18 => {
            format!("{}{}{}", &digits[..4], stars(10), &digits[14..])
        }
        EntityKind::CardNumber if len > 4 => format!("{}{}", stars(len - 4), &digits[len - 4..]),
        _ => stars(len),
    }
}

/// The masked form of a textual match (folded text).
fn mask_text(kind: EntityKind, value: &str) -> String {
    match kind {
        EntityKind::OrderNumber => value.to_string(),
        EntityKind::Email => match value.split_once('@') {
            Some((user, domain)) => {
                let first: String = user.chars().take(1).collect();
                format!("{first}***@{domain}")
            }
            None => "***".into(),
        },
        // Keep the street name's first two characters; hide numbers and the rest.
        _ => {
            let head: String = value.chars().take(2).collect();
            format!("{head}***")
        }
    }
}

/// Adds the matches of `re` that overlap nothing found yet.
fn add_matches(found: &mut Vec<Found>, re: &Regex, folded: &str, kind: EntityKind) {
    for m in re.find_iter(folded) {
        if !found.iter().any(|f| m.start() < f.end && f.start < m.end()) {
            found.push(Found {
                start: m.start(),
                end: m.end(),
                kind,
                masked: mask_text(kind, m.as_str()),
            });
        }
    }
}

/// Every entity of `text`: its original byte range, kind and masked value, in order of
/// appearance. Order numbers and e-mails claim their text first (their digits are not a
/// phone), then numbers, then addresses.
fn spans(text: &str) -> Vec<(usize, usize, EntityKind, String)> {
    let folded = Folded::new(text);
    if !may_hold_entities(&folded.text) {
        return Vec::new();
    }
    spans_of(&folded)
}

/// Every pattern needs a digit (`\d` is a decimal digit, and every numeric character
/// passes here), and an e-mail its `@`. Most chat lines have neither, and the patterns are
/// most of the cost of masking a handoff's transcript.
fn may_hold_entities(folded: &str) -> bool {
    folded.chars().any(|c| c == '@' || c.is_numeric())
}

fn spans_of(folded: &Folded<'_>) -> Vec<(usize, usize, EntityKind, String)> {
    let f: &str = &folded.text;
    let mut found: Vec<Found> = Vec::new();
    add_matches(&mut found, &ORDER_NUMBER, f, EntityKind::OrderNumber);
    if f.contains('@') {
        add_matches(&mut found, &EMAIL, f, EntityKind::Email);
    }
    let numbers: Vec<Found> = chains(f, &found)
        .iter()
        .flat_map(|chain| numbers_in_chain(f, chain))
        .collect();
    found.extend(numbers);
    for re in ADDRESSES.iter() {
        add_matches(&mut found, re, f, EntityKind::Address);
    }
    let mut out: Vec<(usize, usize, EntityKind, String)> = found
        .into_iter()
        .map(|x| {
            let (s, e) = folded.original(x.start, x.end);
            (s, e, x.kind, x.masked)
        })
        .collect();
    out.sort_by_key(|(s, _, _, _)| *s);
    // One original character can fold to two (`⑩` is `10`): never let two spans share it.
    let mut end = 0;
    out.retain(|(s, e, _, _)| {
        let keep = *s >= end;
        if keep {
            end = *e;
        }
        keep
    });
    out
}

/// Every entity in `text`, in order of appearance, with personal data masked.
pub fn find_entities(text: &str) -> Vec<Entity> {
    spans(text)
        .into_iter()
        .map(|(_, _, kind, masked)| Entity { kind, masked })
        .collect()
}

/// Every entity with its unmasked value as the shopper wrote it, for an agent who
/// explicitly opens them (the caller audits that).
pub fn reveal_entities(text: &str) -> Vec<(Entity, String)> {
    spans(text)
        .into_iter()
        .map(|(s, e, kind, masked)| (Entity { kind, masked }, text[s..e].to_string()))
        .collect()
}

/// `text` with every piece of personal data masked; safe for logs and summaries.
pub fn mask(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (s, e, kind, masked) in spans(text) {
        if kind.is_personal() {
            out.push_str(&text[at..s]);
            out.push_str(&masked);
            at = e;
        }
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_without_digits_or_at_signs_is_not_read_by_the_patterns() {
        for text in [
            "我想退货，地址是朝阳区建国路",
            "where is my parcel? it was due on monday",
            "电话是一三八一二三四五六七八",
            "㏩到货", // a symbol that folds to digits passes the check
            "",
        ] {
            let folded = Folded::new(text);
            let expected = spans_of(&folded);
            assert_eq!(spans(text), expected, "{text}");
            if !may_hold_entities(&folded.text) {
                assert!(expected.is_empty(), "{text}");
            }
        }
        assert!(may_hold_entities(&Folded::new("㏩到货").text));
        assert!(may_hold_entities(&Folded::new("a＠b.cn").text));
        assert!(may_hold_entities("١٢٣"));
        assert!(!may_hold_entities("朝阳区建国路 street"));
    }

    #[test]
    fn masks_personal_data_but_not_order_numbers() {
        let m = mask("订单MM202611110001，电话13812345678，邮箱zhang.san@example.com");
        assert!(m.contains("MM202611110001"), "{m}");
        assert!(m.contains("138****5678"), "{m}");
        assert!(m.contains("z***@example.com"), "{m}");
        assert!(!m.contains("12345678"), "{m}");
    }

    #[test]
    fn masks_ids_cards_and_addresses() {
        let m = mask(
            "身份证110101199003071234 卡号 6222 0212 3456 7890 123 地址：朝阳区建国路88号3单元",
        );
        assert!(!m.contains("199003071"), "{m}");
        assert!(m.contains("0123") || m.contains("123"), "{m}");
        assert!(!m.contains("3456 7890"), "{m}");
        assert!(!m.contains("建国路88号"), "{m}");
        let m = mask("ship to 221 Baker Street please");
        assert!(!m.contains("221 Baker"), "{m}");
    }

    #[test]
    fn finds_entities_in_order() {
        let e = find_entities("MM202611110001 and call 13912345678");
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].kind, EntityKind::OrderNumber);
        assert_eq!(e[0].masked, "MM202611110001");
        assert_eq!(e[1].kind, EntityKind::Phone);
        assert_eq!(e[1].masked, "139****5678");
    }

    #[test]
    fn leaves_ordinary_text_alone() {
        let s = "我想退货，7天内可以吗？ Return within 7 days?";
        assert_eq!(mask(s), s);
        assert!(find_entities(s).is_empty());
    }

    // -----------------------------------------------------------------------------------
    // Corpus of tricky writings

    /// How a masked value keeps digits: (kind, kept head, kept tail).
    fn kept(kind: EntityKind) -> (usize, usize) {
        match kind {
            EntityKind::Phone => (3, 4),
            EntityKind::IdNumber => (4, 4),
            _ => (0, 4),
        }
    }

    /// The digits of `s` in any writing the tests use, read independently of the folding
    /// under test (ASCII, full-width, circled, Arabic-Indic and Chinese numerals).
    fn loose_digits(s: &str) -> String {
        const CHINESE: [&str; 10] = [
            "〇零",
            "一壹幺",
            "二贰两",
            "三叁",
            "四肆",
            "五伍",
            "六陆",
            "七柒",
            "八捌",
            "九玖",
        ];
        s.chars()
            .filter_map(|c| {
                let u = u32::from(c);
                let v = match u {
                    0x30..=0x39 => Some(u - 0x30),
                    0xFF10..=0xFF19 => Some(u - 0xFF10),
                    0x0660..=0x0669 => Some(u - 0x0660),
                    0x2460..=0x2468 => Some(u - 0x2460 + 1),
                    0x1D7CE..=0x1D7D7 => Some(u - 0x1D7CE),
                    _ => CHINESE
                        .iter()
                        .position(|set| set.contains(c))
                        .and_then(|p| u32::try_from(p).ok()),
                };
                v.and_then(|d| char::from_digit(d, 10))
            })
            .collect()
    }

    /// Every 4-character window of `secret` that covers a digit the mask must hide.
    fn hidden_windows(secret: &str, kind: EntityKind) -> Vec<String> {
        let chars: Vec<char> = secret.chars().collect();
        let (head, tail) = kept(kind);
        let hidden = |i: usize| i >= head && i + tail < chars.len();
        chars
            .windows(4)
            .enumerate()
            .filter(|(i, _)| (*i..*i + 4).any(hidden))
            .map(|(_, w)| w.iter().collect())
            .collect()
    }

    /// `text` hides `secret` (its national digits, for a phone): the masked output, read
    /// as written and as digits only, holds no 4-digit window of it that covers a hidden
    /// digit; the entity is found; revealing gives back the digits.
    fn assert_hidden(text: &str, secret: &str, kind: EntityKind) {
        let masked = mask(text);
        let digits = loose_digits(&masked);
        for w in hidden_windows(secret, kind) {
            assert!(!masked.contains(&w), "{text:?} → {masked:?} shows {w}");
            assert!(
                !digits.contains(&w),
                "{text:?} → {masked:?} (digits {digits}) shows {w}"
            );
        }
        let revealed = reveal_entities(text);
        let hit = revealed.iter().find(|(e, _)| e.kind == kind);
        let Some((_, value)) = hit else {
            panic!("{text:?}: no {kind:?} in {revealed:?}");
        };
        assert!(
            text.contains(value.as_str()),
            "{text:?}: revealed {value:?}"
        );
        let secret_digits = loose_digits(secret);
        assert!(
            loose_digits(value).ends_with(&secret_digits),
            "{text:?}: revealed {value:?}"
        );
    }

    const PHONE: &str = "13912345678";
    const ID: &str = "440301199003075678";
    const CARD: &str = "6222021234567890123";
    const CARD16: &str = "6222021234567890";

    /// (text, the secret it hides, its kind, a harmless piece that must stay as written).
    const TRICKY: &[(&str, &str, EntityKind, &str)] = &[
        (
            "电话１３９１２３４５６７８",
            PHONE,
            EntityKind::Phone,
            "电话",
        ),
        (
            "电话139\u{200B}1234\u{200B}5678",
            PHONE,
            EntityKind::Phone,
            "电话",
        ),
        ("tel13912345678", PHONE, EntityKind::Phone, "tel"),
        ("139.1234.5678", PHONE, EntityKind::Phone, ""),
        ("139 1234 5678", PHONE, EntityKind::Phone, ""),
        ("139-1234-5678", PHONE, EntityKind::Phone, ""),
        ("139_1234_5678 thanks", PHONE, EntityKind::Phone, "thanks"),
        ("139/1234/5678", PHONE, EntityKind::Phone, ""),
        ("139 - 1234 - 5678", PHONE, EntityKind::Phone, ""),
        ("一三九一二三四五六七八", PHONE, EntityKind::Phone, ""),
        (
            "幺三九幺两三四五六七八",
            "13912345678",
            EntityKind::Phone,
            "",
        ),
        ("壹叁玖壹贰叁肆伍陆柒捌", PHONE, EntityKind::Phone, ""),
        (
            "我的号是 1 3 9 1 2 3 4 5 6 7 8",
            PHONE,
            EntityKind::Phone,
            "我的号是",
        ),
        ("+86 139 1234 5678", PHONE, EntityKind::Phone, ""),
        ("0086-13912345678", PHONE, EntityKind::Phone, ""),
        ("+8613912345678", PHONE, EntityKind::Phone, ""),
        ("TEL:+86-139-1234-5678", PHONE, EntityKind::Phone, "TEL:"),
        ("(+86) 139-1234-5678", PHONE, EntityKind::Phone, ""),
        ("１3九1二34５六78", PHONE, EntityKind::Phone, ""),
        ("139一二三四5678", PHONE, EntityKind::Phone, ""),
        (
            "1\u{FE0F}\u{20E3}3\u{FE0F}\u{20E3}9\u{FE0F}\u{20E3}1\u{FE0F}\u{20E3}2\u{FE0F}\u{20E3}3\u{FE0F}\u{20E3}4\u{FE0F}\u{20E3}5\u{FE0F}\u{20E3}6\u{FE0F}\u{20E3}7\u{FE0F}\u{20E3}8\u{FE0F}\u{20E3}",
            PHONE,
            EntityKind::Phone,
            "",
        ),
        ("①③⑨①②③④⑤⑥⑦⑧", PHONE, EntityKind::Phone, ""),
        ("１３９－１２３４－５６７８", PHONE, EntityKind::Phone, ""),
        ("١٣٩١٢٣٤٥٦٧٨", PHONE, EntityKind::Phone, ""),
        ("𝟏𝟑𝟗𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖", PHONE, EntityKind::Phone, ""),
        (
            "call me: 139\u{2060}1234\u{FEFF}5678 ok",
            PHONE,
            EntityKind::Phone,
            "call me:",
        ),
        ("139\u{3000}1234\u{3000}5678", PHONE, EntityKind::Phone, ""),
        ("139\u{00A0}1234\u{00A0}5678", PHONE, EntityKind::Phone, ""),
        ("139\u{00AD}1234\u{00AD}5678", PHONE, EntityKind::Phone, ""),
        ("139\u{202E}1234\u{202C}5678", PHONE, EntityKind::Phone, ""),
        ("139·1234·5678", PHONE, EntityKind::Phone, ""),
        ("139😀1234😀5678", PHONE, EntityKind::Phone, ""),
        ("电话13912345678，3件", PHONE, EntityKind::Phone, "3件"),
        (
            "订单MM202611110001 电话 13912345678",
            PHONE,
            EntityKind::Phone,
            "MM202611110001",
        ),
        // The last digits of a phone may look like a date; the phone's shape wins.
        (
            " 13815 1\u{ad}90\u{200b}9．1．4 ",
            "13815190914",
            EntityKind::Phone,
            "",
        ),
        ("1909.1.4 13815", "19091413815", EntityKind::Phone, ""),
        ("¥199.00 13912345678", PHONE, EntityKind::Phone, "¥199.00"),
        (
            "2026-11-11 13912345678",
            PHONE,
            EntityKind::Phone,
            "2026-11-11",
        ),
        (
            "my number is 139 1234 5678, call after 10:30",
            PHONE,
            EntityKind::Phone,
            "10:30",
        ),
        ("13912345678 3 times", PHONE, EntityKind::Phone, "3 times"),
        (
            "身份证440301199003075678",
            ID,
            EntityKind::IdNumber,
            "身份证",
        ),
        (
            "身份证 440301 19900307 5678",
            ID,
            EntityKind::IdNumber,
            "身份证",
        ),
        (
            "ID: 440301-1990-03-07-5678",
            ID,
            EntityKind::IdNumber,
            "ID:",
        ),
        (
            "ID: 44030119900307567X",
            "44030119900307567X",
            EntityKind::IdNumber,
            "ID:",
        ),
        (
            "ID:44030119900307567 x",
            "44030119900307567X",
            EntityKind::IdNumber,
            "ID:",
        ),
        (
            "４４０３０１１９９００３０７５６７８",
            ID,
            EntityKind::IdNumber,
            "",
        ),
        (
            "440301\u{200B}19900307\u{200B}5678",
            ID,
            EntityKind::IdNumber,
            "",
        ),
        (
            "四四〇三〇一一九九〇〇三〇七五六七八",
            ID,
            EntityKind::IdNumber,
            "",
        ),
        (
            "card6222021234567890123",
            CARD,
            EntityKind::CardNumber,
            "card",
        ),
        (
            "卡号 6222 0212 3456 7890 123",
            CARD,
            EntityKind::CardNumber,
            "卡号",
        ),
        ("6222-0212-3456-7890", CARD16, EntityKind::CardNumber, ""),
        ("6222.0212.3456.7890", CARD16, EntityKind::CardNumber, ""),
        (
            "卡号：６２２２０２１２３４５６７８９０",
            CARD16,
            EntityKind::CardNumber,
            "卡号：",
        ),
        (
            "6222\u{200D}0212\u{200D}3456\u{200D}7890",
            CARD16,
            EntityKind::CardNumber,
            "",
        ),
        (
            "6 2 2 2 0 2 1 2 3 4 5 6 7 8 9 0",
            CARD16,
            EntityKind::CardNumber,
            "",
        ),
        (
            "62.22.02.12.34.56.78.90",
            CARD16,
            EntityKind::CardNumber,
            "",
        ),
        (
            "6222 0213 9123 4567 890",
            "6222021391234567890",
            EntityKind::CardNumber,
            "",
        ),
        (
            "卡6222021234567890123，金额¥199.00",
            CARD,
            EntityKind::CardNumber,
            "¥199.00",
        ),
    ];

    #[test]
    fn tricky_writings_are_masked() {
        assert!(TRICKY.len() >= 40);
        for (text, secret, kind, keep) in TRICKY {
            assert_hidden(text, secret, *kind);
            let masked = mask(text);
            assert!(masked.contains(keep), "{text:?} → {masked:?} lost {keep:?}");
        }
    }

    #[test]
    fn two_numbers_side_by_side_are_both_masked() {
        let text = "139 1234 5678 6222 0298 7654 3210";
        assert_hidden(text, PHONE, EntityKind::Phone);
        assert_hidden(text, "6222029876543210", EntityKind::CardNumber);
        let m = mask("电话１３９１２３４５６７８，邮箱ｚｈａｎｇ＠ｅｘａｍｐｌｅ．ｃｏｍ");
        assert!(m.contains("z***@example.com"), "{m}");
    }

    /// Text with numbers in it that are not personal.
    const HARMLESS: &[&str] = &[
        "¥199.00",
        "价格¥1,299.00，现在¥999.00",
        "2026-11-11",
        "2026/11/11 10:30",
        "2026.11.11",
        "3件",
        "10:30",
        "18:00-20:00",
        "MM202611110001",
        "订单号MM202611110001已发货",
        "mm202611110001 MM202611110002",
        "买了3件，一共¥597.00",
        "双十一 2026-11-11 到 2026-11-12",
        "2026-11-11 2026-11-12 3件",
        "2026-11-11 10:30 下单，2026-11-12 18:00 到",
        "price 199.00 299.00 399.00 499.00",
        "199.00/299.00/399.00",
        "数量 2 件 单价 99.50",
        "第一件半价，两件一起发",
        "一共三百九十九元",
        "尺码 XL 42码，身高 175 cm",
        "我想退货，7天内可以吗？ Return within 7 days?",
        "订单 MM202611110001 和 MM202611110002 一起退",
    ];

    #[test]
    fn harmless_numbers_stay_readable() {
        for text in HARMLESS {
            assert_eq!(mask(text), *text, "{text:?}");
            assert!(
                find_entities(text)
                    .iter()
                    .all(|e| e.kind == EntityKind::OrderNumber),
                "{text:?}: {:?}",
                find_entities(text)
            );
        }
    }

    #[test]
    fn reveal_gives_back_what_the_shopper_wrote() {
        let text = "电话 139\u{200B}1234 5678，身份证１１０１０１１９９００３０７１２３４";
        let revealed = reveal_entities(text);
        assert_eq!(revealed.len(), 2, "{revealed:?}");
        assert_eq!(revealed[0].0.masked, "139****5678");
        assert_eq!(revealed[0].1, "139\u{200B}1234 5678");
        assert_eq!(revealed[1].0.masked, "1101**********1234");
        assert_eq!(revealed[1].1, "１１０１０１１９９００３０７１２３４");
    }

    // -----------------------------------------------------------------------------------
    // Properties

    use proptest::prelude::*;

    /// A personal number: its kind and digits (national digits for a phone).
    fn number() -> impl Strategy<Value = (EntityKind, String)> {
        let phone = "1[3-9][0-9]{9}".prop_map(|d| (EntityKind::Phone, d));
        let id = (
            "[1-9][0-9]{5}",
            "19[5-9][0-9]|20[0-2][0-9]",
            1..=12u32,
            1..=28u32,
            "[0-9]{3}[0-9X]",
        )
            .prop_map(|(area, year, month, day, tail)| {
                (
                    EntityKind::IdNumber,
                    format!("{area}{year}{month:02}{day:02}{tail}"),
                )
            });
        // Cards start as real ones do (3–6); the seventh digit is never 1 or 2, so an
        // 18-digit card cannot also read as an ID number (which keeps its head visible).
        let card = ("[3-6][0-9]{5}", "[03-9]", 6..=12usize)
            .prop_flat_map(|(head, seventh, rest)| {
                (
                    Just(head),
                    Just(seventh),
                    proptest::string::string_regex(&format!("[0-9]{{{rest}}}"))
                        .unwrap_or_else(|e| panic!("{e}")),
                )
            })
            .prop_map(|(head, seventh, rest)| {
                (EntityKind::CardNumber, format!("{head}{seventh}{rest}"))
            });
        prop_oneof![phone, id, card]
    }

    /// One character of a number as a shopper might write it.
    fn written(c: char) -> BoxedStrategy<String> {
        let Some(d) = c.to_digit(10) else {
            return prop_oneof![
                Just("X".to_string()),
                Just("x".to_string()),
                Just("Ｘ".to_string())
            ]
            .boxed();
        };
        let n = usize::try_from(d).unwrap_or(0);
        let full = char::from_u32(0xFF10 + d)
            .map(String::from)
            .unwrap_or_default();
        let arabic = char::from_u32(0x0660 + d)
            .map(String::from)
            .unwrap_or_default();
        let chinese = ["〇", "一", "二", "三", "四", "五", "六", "七", "八", "九"][n].to_string();
        let mut ways = vec![c.to_string(), c.to_string(), full, chinese, arabic];
        match d {
            1 => ways.push("幺".into()),
            2 => ways.push("两".into()),
            _ => {}
        }
        proptest::sample::select(ways).boxed()
    }

    /// The one visible separator a shopper uses to group a number's digits. Mixing
    /// several can spell a date or two prices (`13815 1909.1.4`, `42.27 9000002.02`),
    /// which the masker leaves readable on purpose, so one number keeps one style.
    fn visible_separator() -> impl Strategy<Value = &'static str> {
        proptest::sample::select(vec![
            " ", ".", "-", "_", "/", " - ", "\u{3000}", "．", "－", "😀",
        ])
    }

    /// What may stand between two characters of a written number: nothing, the number's
    /// visible separator, or characters that show nothing.
    fn separator(visible: &'static str) -> impl Strategy<Value = &'static str> {
        proptest::sample::select(vec![
            "", "", "", "", visible, visible, visible, "\u{200B}", "\u{200D}", "\u{FEFF}",
            "\u{2060}", "\u{00AD}",
        ])
    }

    /// A number written with random look-alikes and separators, maybe with a `+86`.
    fn obfuscated(kind: EntityKind, digits: &str) -> impl Strategy<Value = String> + use<> {
        let chars: Vec<BoxedStrategy<String>> = digits.chars().map(written).collect();
        let count = digits.chars().count();
        let seps = visible_separator()
            .prop_flat_map(move |visible| proptest::collection::vec(separator(visible), count));
        let prefix: BoxedStrategy<&'static str> = if kind == EntityKind::Phone {
            proptest::sample::select(vec!["", "", "+86 ", "+86", "0086-", "86 "]).boxed()
        } else {
            Just("").boxed()
        };
        (prefix, chars, seps).prop_map(|(prefix, chars, seps)| {
            let mut s = prefix.to_string();
            for (i, c) in chars.iter().enumerate() {
                if i > 0 {
                    s.push_str(seps[i]);
                }
                s.push_str(c);
            }
            s
        })
    }

    /// Words around a number: no digits, no Chinese numerals, and none starting with an
    /// `x` (that would read as an ID number's check character).
    fn words() -> impl Strategy<Value = String> {
        let word = proptest::sample::select(vec![
            "电话",
            "我的手机号是",
            "请联系",
            "谢谢",
            "号码",
            "快递",
            "退款",
            "身份证",
            "卡号：",
            "call me at",
            "tel",
            "card",
            "thanks!",
            "please",
            "ok",
            "😀",
            "🙏",
            "🎉",
            "❤️",
            "，",
            "。",
            " ",
            "：",
        ]);
        proptest::collection::vec(word, 0..4).prop_map(|w| w.concat())
    }

    fn case() -> impl Strategy<Value = (EntityKind, String, String)> {
        number().prop_flat_map(|(kind, digits)| {
            let written = obfuscated(kind, &digits);
            (Just(kind), Just(digits), words(), written, words()).prop_map(
                |(kind, digits, before, written, after)| {
                    // A word glued to the number is fine, a digit glued to it is another number.
                    (kind, digits, format!("{before} {written} {after}"))
                },
            )
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Around digit-free words, the only digits left after masking are the ones the
        /// masked form shows on purpose (a phone's first 3 and last 4, an ID's first and
        /// last 4, a card's last 4): no other digit of the number survives, however it
        /// was written. And revealing gives the number back.
        #[test]
        fn an_obfuscated_number_leaves_only_its_kept_digits((kind, digits, text) in case()) {
            let masked = mask(&text);
            let (head, tail) = kept(kind);
            let plain: String = digits.chars().filter(char::is_ascii_digit).collect();
            let expected = format!(
                "{}{}",
                &digits[..head],
                &digits[digits.len() - tail..]
            );
            let expected: String = expected.chars().filter(char::is_ascii_digit).collect();
            prop_assert_eq!(loose_digits(&masked), expected, "{:?} → {:?}", text, masked);
            let revealed = reveal_entities(&text);
            prop_assert!(
                revealed.iter().any(|(e, v)| e.kind == kind && loose_digits(v).ends_with(&plain)),
                "{:?}: {:?}", text, revealed
            );
        }

        /// Prices, dates, times, quantities and order numbers mixed with words are never
        /// masked.
        #[test]
        fn harmless_numbers_are_never_masked(pieces in proptest::collection::vec(harmless_piece(), 1..6)) {
            let text = pieces.join(" ");
            prop_assert_eq!(mask(&text), text.clone());
        }
    }

    fn harmless_piece() -> impl Strategy<Value = String> {
        prop_oneof![
            (1..100_000u32, 0..100u32).prop_map(|(y, f)| format!("¥{y}.{f:02}")),
            (1..10_000u32, 0..100u32).prop_map(|(y, f)| format!("{y}.{f:02}元")),
            (2000..2100u32, 1..=12u32, 1..=28u32)
                .prop_map(|(y, m, d)| format!("{y}-{m:02}-{d:02}")),
            (2000..2100u32, 1..=12u32, 1..=28u32).prop_map(|(y, m, d)| format!("{y}/{m}/{d}")),
            (0..24u32, 0..60u32).prop_map(|(h, m)| format!("{h}:{m:02}")),
            (1..100u32).prop_map(|n| format!("{n}件")),
            "MM[0-9]{12}".prop_map(|s| s),
            proptest::sample::select(vec![
                "订单", "发货", "price", "total", "到", "和", "😀", "please"
            ])
            .prop_map(String::from),
        ]
    }
}

/// Property tests on arbitrary input: `cargo test --lib fuzz_`, `PROPTEST_CASES=N` for a
/// long run.
#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    use super::*;
    use crate::fuzzing;

    /// Digits, the separators and look-alikes masking folds, and words around them.
    fn numbery() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            "[0-9]{1,19}",
            proptest::sample::select(vec![
                " ",
                "-",
                ".",
                "．",
                "\u{ad}",
                "\u{200b}",
                "\u{200d}",
                "\u{feff}",
                "+86",
                "０",
                "１３８",
                "⑩",
                "①",
                "¹",
                "٣",
                "x",
                "X",
                "@",
                "路",
                "号",
                "室",
                "电话",
                "手机",
                "卡号",
                "身份证",
                "MM",
                "e.com",
                "\u{301}",
                "İ",
                "ﬁ",
                "😀",
                "\t",
                "\n",
                "：",
                "¥",
                "元",
                "/",
                ":",
                "*",
            ])
            .prop_map(String::from),
            any::<char>().prop_map(String::from),
        ];
        proptest::collection::vec(piece, 0..24).prop_map(|v| v.concat())
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![any::<String>(), numbery(), fuzzing::arbitrary_text()]
    }

    proptest! {
        #![proptest_config(fuzzing::config(512))]

        /// Any text: masking, finding and revealing never panic and agree with each
        /// other; revealed values are pieces of the text, in order, not overlapping.
        #[test]
        fn fuzz_mask_arbitrary_text(s in text()) {
            let masked = mask(&s);
            let found = find_entities(&s);
            let revealed = reveal_entities(&s);
            prop_assert_eq!(
                found.clone(),
                revealed.iter().map(|(e, _)| e.clone()).collect::<Vec<_>>()
            );
            let mut rest = s.as_str();
            for (_, value) in &revealed {
                prop_assert!(!value.is_empty());
                let Some(at) = rest.find(value.as_str()) else {
                    return Err(TestCaseError::fail(format!("{value:?} not in order in {s:?}")));
                };
                rest = &rest[at + value.len()..];
            }
            if found.iter().all(|e| !e.kind.is_personal()) {
                prop_assert_eq!(masked, s);
            }
        }
    }
}
