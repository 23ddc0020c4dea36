//! Version ordering against published test vectors and against the package managers themselves.
//!
//! - The real-world fixtures `versions/*-versions.txt` (osv-scalibr's vectors; docs/testing.md):
//!   every row, both ways.
//! - Real tools on a few thousand generated pairs each: `dpkg --compare-versions` for Debian,
//!   rpm's Python binding (`rpm.labelCompare`, Debian package `python3-rpm`) for RPM, node-semver's
//!   `semver.compare` (installed with npm into the target directory) for npm, Python's `packaging`
//!   (pip's version rules, in a pinned virtualenv in the target directory) for PyPI. A test whose
//!   tool or fixture is missing prints why and skips; under CI=true it fails.
//! - Total-order properties (antisymmetry, transitivity) on random samples, malformed text included.

mod common;

use common::require::{require, require_fixture, require_tool};

use std::cmp::Ordering;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ecr_engine::vuln::version::Scheme;

const ALL: [Scheme; 5] = [Scheme::Dpkg, Scheme::Apk, Scheme::Rpm, Scheme::Semver, Scheme::Pep440];

fn sym(o: Ordering) -> &'static str {
    match o {
        Ordering::Less => "<",
        Ordering::Equal => "=",
        Ordering::Greater => ">",
    }
}

// ---------------------------------------------------------------------------------------------
// Fixture vectors

/// Checks every `a OP b` row of one fixture file.
fn check_fixture(scheme: Scheme, file: &str) {
    let Some(bytes) = require_fixture(&format!("versions/{file}")) else { return };
    let text = String::from_utf8(bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
    let mut failures = Vec::new();
    let mut rows = 0;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with("//") {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [a, op, b] = fields[..] else { panic!("{file}:{}: not `a OP b`: {line:?}", n + 1) };
        let want = match op {
            "<" => Ordering::Less,
            "=" => Ordering::Equal,
            ">" => Ordering::Greater,
            _ => panic!("{file}:{}: unknown operator in {line:?}", n + 1),
        };
        rows += 1;
        let got = scheme.compare(a, b);
        let back = scheme.compare(b, a);
        if got != want || back != want.reverse() {
            failures.push(format!("{file}:{}: {a} {op} {b}, got {} and reversed {}", n + 1, sym(got), sym(back)));
        }
    }
    assert!(failures.is_empty(), "{:?} fixture rows that do not hold:\n{}", scheme, failures.join("\n"));
    assert!(rows > 0, "{file} has no rows");
    println!("{scheme:?}: {rows} fixture rows hold both ways");
}

#[test]
fn fixture_debian() {
    check_fixture(Scheme::Dpkg, "debian-versions.txt");
}

#[test]
fn fixture_alpine() {
    check_fixture(Scheme::Apk, "alpine-versions.txt");
}

#[test]
fn fixture_redhat() {
    check_fixture(Scheme::Rpm, "redhat-versions.txt");
}

#[test]
fn fixture_semver() {
    check_fixture(Scheme::Semver, "semver-versions.txt");
}

// ---------------------------------------------------------------------------------------------
// Deterministic generators

/// SplitMix64: small, seeded, good enough for test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
    fn pick_char(&mut self, chars: &str) -> char {
        let chars: Vec<char> = chars.chars().collect();
        chars[self.below(chars.len())]
    }
}

/// A number: mostly small, sometimes with leading zeros, sometimes a long run of digits.
fn number(r: &mut Rng, max_len: usize) -> String {
    match r.below(10) {
        0 => format!("0{}", r.below(10)),
        1 if max_len > 18 => (0..r.below(max_len - 17) + 18).map(|_| r.pick_char("0123456789")).collect(),
        1 => (0..max_len).map(|_| r.pick_char("123456789")).collect(),
        2 => "0".into(),
        _ => r.below(25).to_string(),
    }
}

/// Alternating digit and non-digit runs drawn from `punct` and `letters`.
fn segments(r: &mut Rng, max_parts: usize, punct: &str, letters: &[&str], max_digits: usize) -> String {
    let mut s = number(r, max_digits);
    for _ in 0..r.below(max_parts) {
        match r.below(6) {
            0 | 1 => {
                s.push(r.pick_char(punct));
                s += &number(r, max_digits);
            }
            2 => s += r.pick(letters),
            3 => {
                s.push(r.pick_char(punct));
                s += r.pick(letters);
            }
            4 => {
                s.push(r.pick_char(punct));
                s += &number(r, max_digits);
                s += r.pick(letters);
            }
            _ => s += &number(r, max_digits),
        }
    }
    s
}

/// Applies one small change, so that pairs share prefixes and differ where it matters.
fn mutate(r: &mut Rng, v: &str, inserts: &[&str]) -> String {
    let chars: Vec<char> = v.chars().collect();
    let at = r.below(chars.len() + 1);
    let (head, tail): (String, String) = (chars[..at].iter().collect(), chars[at..].iter().collect());
    match r.below(6) {
        0 => format!("{v}{}", r.pick(inserts)),
        1 => format!("{head}{}{tail}", r.pick(inserts)),
        2 if !tail.is_empty() => format!("{head}{}", &tail[tail.chars().next().unwrap().len_utf8()..]),
        3 => {
            // Bump or shrink a digit.
            let mut out: Vec<char> = chars.clone();
            if let Some(i) = (0..out.len()).map(|k| (k + at) % out.len().max(1)).find(|&k| out[k].is_ascii_digit()) {
                out[i] = r.pick_char("0123456789");
            }
            out.into_iter().collect()
        }
        4 => format!("{head}{}", r.pick(inserts)),
        _ => v.to_string(),
    }
}

fn debian_version(r: &mut Rng) -> String {
    let letters = ["a", "b", "z", "A", "Z", "rc", "dfsg", "deb", "ubuntu", "~", "~~", "+", "~rc", "build"];
    let mut upstream = segments(r, 6, ".+~", &letters, 30);
    if r.chance(5) {
        upstream.insert(0, r.pick_char("abx~"));
    }
    let epoch = if r.chance(25) { Some(r.pick(&["0", "1", "2", "01", "10", "2147483647"]).to_string()) } else { None };
    if epoch.is_some() && r.chance(20) {
        upstream += &format!(":{}", number(r, 4));
    }
    let revision = if r.chance(65) {
        let mut rev = segments(r, 4, ".+~", &letters, 25);
        if r.chance(10) {
            upstream += &format!("-{}", number(r, 3));
        }
        if r.chance(10) {
            rev.insert(0, r.pick_char("a~+."));
        }
        Some(rev)
    } else {
        None
    };
    let mut s = String::new();
    if let Some(e) = epoch {
        s += &e;
        s.push(':');
    }
    s += &upstream;
    if let Some(rev) = revision {
        s.push('-');
        s += &rev;
    }
    s
}

fn rpm_version(r: &mut Rng) -> String {
    let letters = ["a", "b", "z", "A", "el", "el9", "fc", "git", "rc", "~", "~rc", "^", "^git", "^20240101", "pre"];
    let mut s = String::new();
    if r.chance(25) {
        s += r.pick(&["0:", "1:", "2:", "01:", "10:", ":"]);
    }
    s += &segments(r, 6, "._+%", &letters, 30);
    if r.chance(5) {
        s.insert(0, r.pick_char("a~^."));
    }
    if r.chance(80) {
        s.push('-');
        if !r.chance(3) {
            s += &segments(r, 5, "._+", &letters, 25);
        }
    }
    s
}

fn apk_version(r: &mut Rng) -> String {
    let mut s = number(r, 30);
    for _ in 0..r.below(4) {
        s.push('.');
        s += &number(r, 30);
    }
    if r.chance(20) {
        s.push(r.pick_char("abcxyz"));
    }
    for _ in 0..r.below(3) {
        s += r.pick(&["_alpha", "_beta", "_pre", "_rc", "_cvs", "_svn", "_git", "_hg", "_p"]);
        if r.chance(60) {
            s += &number(r, 12);
        }
    }
    if r.chance(10) {
        s += r.pick(&["~abc", "~0f", "~deadbeef"]);
    }
    if r.chance(60) {
        s += "-r";
        s += &number(r, 6);
    }
    s
}

fn semver_version(r: &mut Rng, node_safe: bool) -> String {
    let num = |r: &mut Rng| -> String {
        match r.below(8) {
            0 => (r.next() % (1 << 53)).to_string(),
            1 if !node_safe => format!("1{}", "0".repeat(25 + r.below(10))),
            _ => r.below(12).to_string(),
        }
    };
    let mut s = String::new();
    if r.chance(15) {
        s.push('v');
    }
    s += &format!("{}.{}.{}", num(r), num(r), num(r));
    if r.chance(55) {
        let ids: Vec<String> = (0..r.below(4) + 1)
            .map(|_| match r.below(3) {
                0 => num(r),
                _ => r.pick(&["alpha", "beta", "rc", "a", "A", "b1", "x-y", "-", "0a", "pre", "Beta"]).to_string(),
            })
            .collect();
        s.push('-');
        s += &ids.join(".");
    }
    if r.chance(20) {
        s.push('+');
        s += r.pick(&["build", "001", "sha.5114f85", "x-1"]);
    }
    s
}

/// A PyPI version in any of the spellings PEP 440 allows (and some it does not): epochs, releases
/// of any length, every pre, post and dev spelling and separator, local versions, random case.
fn pep440_version(r: &mut Rng) -> String {
    let sep = |r: &mut Rng| r.pick(&["", "", ".", "-", "_"]).to_string();
    let mut s = String::new();
    if r.chance(10) {
        s += r.pick(&["v", "V", " ", "\t"]);
    }
    if r.chance(15) {
        s += &format!("{}!", number(r, 3));
    }
    s += &number(r, 25);
    for _ in 0..r.below(5) {
        s.push('.');
        s += &number(r, 25);
    }
    if r.chance(40) {
        s += &sep(r);
        s += r.pick(&["a", "b", "rc", "c", "alpha", "beta", "pre", "preview", "A", "Beta", "RC", "Pre"]);
        if r.chance(30) {
            s += &sep(r);
        }
        if r.chance(80) {
            s += &number(r, 20);
        }
    }
    if r.chance(30) {
        if r.chance(30) {
            s += &format!("-{}", number(r, 20));
        } else {
            s += &sep(r);
            s += r.pick(&["post", "rev", "r", "POST", "Rev"]);
            if r.chance(30) {
                s += &sep(r);
            }
            if r.chance(80) {
                s += &number(r, 20);
            }
        }
    }
    if r.chance(30) {
        s += &sep(r);
        s += r.pick(&["dev", "DEV", "Dev"]);
        if r.chance(80) {
            s += &number(r, 20);
        }
    }
    if r.chance(25) {
        let parts: Vec<String> = (0..r.below(3) + 1)
            .map(|_| match r.below(3) {
                0 => number(r, 20),
                _ => r.pick(&["ubuntu", "abc", "ABC", "cpu", "cu121", "g1a2b3c", "x", "1a", "dirty"]).to_string(),
            })
            .collect();
        s.push('+');
        s += &parts.join(r.pick(&[".", "-", "_"]));
    }
    if r.chance(5) {
        s += r.pick(&[" ", "\n", "-", ".", "+", "!", "x", "a1", ".post"]);
    }
    s
}

/// `count` pairs: a third independent, the rest one version and a small mutation of it.
fn pairs(
    seed: u64,
    count: usize,
    mut generate: impl FnMut(&mut Rng) -> String,
    inserts: &[&str],
) -> Vec<(String, String)> {
    let mut r = Rng(seed);
    (0..count)
        .map(|i| {
            let a = generate(&mut r);
            let b = if i % 3 == 0 { generate(&mut r) } else { mutate(&mut r, &a, inserts) };
            if r.chance(50) { (a, b) } else { (b, a) }
        })
        .collect()
}

const DEB_INSERTS: [&str; 12] = ["~", "~~", "+", ".", "a", "Z", "0", "1", "-1", "9", "~rc1", "+b1"];
const RPM_INSERTS: [&str; 12] = ["~", "^", ".", "a", "Z", "0", "1", "-1", "^git1", "~rc1", "_", "+"];
const SEMVER_INSERTS: [&str; 8] = ["-1", ".1", "-alpha", ".0", "+b", "1", "0", "-a.1"];
const PEP440_INSERTS: [&str; 18] =
    [".0", "0", "1", "a1", "b", "rc1", "c", ".post1", "-1", "r", ".dev0", "dev", "+local", "+1", "!", ".", "-", "_"];

/// Runs `program args`, writes `input` to it, returns its stdout, or `None` when it cannot run.
fn run_with_input(program: &str, args: &[&str], dir: Option<&Path>, input: &str) -> Option<String> {
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    let mut child = cmd.spawn().ok()?;
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("wait");
    let written = writer.join().expect("writer");
    if !out.status.success() {
        panic!("{program} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    written.expect("write to the oracle");
    Some(String::from_utf8(out.stdout).expect("utf-8"))
}

/// Compares our answers with the oracle's (`<`, `=`, `>` or `E` for "the tool rejects it");
/// returns how many pairs the tool ordered.
///
/// `beyond_tool(v)` names versions outside the range where the tool is exact (node-semver's numbers
/// above 2^53 - 1): pairs holding one are not counted, whatever the tool answered.
fn check_against(
    scheme: Scheme,
    tool: &str,
    pairs: &[(String, String)],
    answers: &str,
    beyond_tool: impl Fn(&str) -> bool,
) -> usize {
    let answers: Vec<&str> = answers.lines().collect();
    assert_eq!(answers.len(), pairs.len(), "{tool} answered {} of {} pairs", answers.len(), pairs.len());
    let mut mismatches = Vec::new();
    let mut ordered = 0;
    for ((a, b), want) in pairs.iter().zip(answers.iter().copied()) {
        if beyond_tool(a) || beyond_tool(b) {
            continue;
        }
        if want == "E" {
            // The tool rejects one of them: we must call it invalid too.
            if scheme.is_valid(a) && scheme.is_valid(b) {
                mismatches.push(format!("{tool} rejects {a:?} or {b:?}, which we call valid"));
            }
            continue;
        }
        ordered += 1;
        let got = sym(scheme.compare(a, b));
        if got != want {
            mismatches.push(format!("{a:?} vs {b:?}: {tool} says {want}, we say {got}"));
        }
    }
    let shown: Vec<&String> = mismatches.iter().take(30).collect();
    assert!(mismatches.is_empty(), "{} disagreements with {tool}:\n{shown:#?}", mismatches.len());
    let count = |s: &str| answers.iter().filter(|a| **a == s).count();
    println!(
        "{scheme:?}: {ordered} generated pairs agree with {tool} ({} <, {} =, {} >, {} rejected by it)",
        count("<"),
        count("="),
        count(">"),
        count("E")
    );
    ordered
}

// ---------------------------------------------------------------------------------------------
// dpkg

const DPKG_PAIRS: usize = 3000;

#[test]
fn dpkg_agrees_with_dpkg() {
    if !require_tool("dpkg", &["--version"], "dpkg") {
        return;
    }
    // dpkg would read a leading `-` as an option: keep such pairs out.
    let mut pairs = pairs(0xDEB1A2, DPKG_PAIRS, debian_version, &DEB_INSERTS);
    pairs.retain(|(a, b)| !a.starts_with('-') && !b.starts_with('-'));
    // One shell per core reads `a|b` lines (a separator that is not blank keeps empty versions)
    // and asks dpkg at most twice per pair (exit status 2: dpkg rejected a version). The two
    // halves run concurrently.
    let script = r#"while IFS='|' read -r a b; do
        dpkg --compare-versions "$a" lt "$b" 2>/dev/null; rc=$?
        if [ $rc -eq 0 ]; then echo '<'; continue; fi
        if [ $rc -ne 1 ]; then echo E; continue; fi
        dpkg --compare-versions "$a" eq "$b" 2>/dev/null; rc=$?
        if [ $rc -eq 0 ]; then echo '='; elif [ $rc -eq 1 ]; then echo '>'; else echo E; fi
    done"#;
    let half = pairs.len() / 2;
    let chunks: Vec<String> = [&pairs[..half], &pairs[half..]]
        .iter()
        .map(|chunk| chunk.iter().map(|(a, b)| format!("{a}|{b}\n")).collect())
        .collect();
    let answers: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> =
            chunks.iter().map(|input| s.spawn(move || run_with_input("sh", &["-c", script], None, input))).collect();
        handles.into_iter().map(|h| h.join().expect("thread").expect("sh runs")).collect()
    });
    let ordered = check_against(Scheme::Dpkg, "dpkg --compare-versions", &pairs, &answers.concat(), |_| false);
    assert!(ordered > DPKG_PAIRS * 9 / 10, "dpkg ordered only {ordered} pairs");
}

// ---------------------------------------------------------------------------------------------
// rpm

const RPM_PAIRS: usize = 5000;

#[test]
fn rpm_agrees_with_rpm_label_compare() {
    // Debian's python3-rpm installs rpm's binding for Debian's own Python.
    let python = "/usr/bin/python3";
    if !require_tool(python, &["-c", "import rpm"], "python3-rpm") {
        return;
    }
    let pairs = pairs(0x2E0_3A1, RPM_PAIRS, rpm_version, &RPM_INSERTS);
    // rpm.ver() splits an EVR string with rpm's own parser; labelCompare compares the parts.
    let script = r#"
import sys, rpm
out = []
for line in sys.stdin:
    a, b = line.rstrip("\n").split("\t")
    try:
        va, vb = rpm.ver(a), rpm.ver(b)
        r = rpm.labelCompare((va.e, va.v, va.r), (vb.e, vb.v, vb.r))
    except ValueError:  # rpm refuses an empty string or an empty version
        out.append("E")
        continue
    out.append("<" if r < 0 else ">" if r > 0 else "=")
sys.stdout.write("\n".join(out) + "\n")
"#;
    let input: String = pairs.iter().map(|(a, b)| format!("{a}\t{b}\n")).collect();
    let answers = run_with_input(python, &["-c", script], None, &input).expect("python runs");
    let ordered = check_against(Scheme::Rpm, "rpm.labelCompare", &pairs, &answers, |_| false);
    assert!(ordered > RPM_PAIRS * 9 / 10, "rpm ordered only {ordered} pairs");
}

// ---------------------------------------------------------------------------------------------
// npm semver

const SEMVER_PAIRS: usize = 5000;

/// Installs node-semver 7 into the target directory once (npm and the registry permitting).
fn node_semver_dir() -> Option<PathBuf> {
    if !require_tool("node", &["--version"], "nodejs") {
        return None;
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("node-semver");
    if dir.join("node_modules/semver/package.json").exists() {
        return Some(dir);
    }
    std::fs::create_dir_all(&dir).expect("create the node-semver dir");
    let status = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--no-package-lock", "--silent", "--prefix", "."])
        .arg("semver@7")
        .current_dir(&dir)
        .stdout(Stdio::null())
        .status();
    let installed = match status {
        Ok(s) if s.success() && dir.join("node_modules/semver/package.json").exists() => Ok(dir),
        Ok(s) => Err(format!("`npm install semver@7` failed ({s})")),
        Err(e) => Err(format!("npm cannot run ({e})")),
    };
    require(
        installed,
        "node-semver comes from the npm registry: install the Debian package npm (scripts/test installs it) and check that registry.npmjs.org is reachable",
    )
}

/// Whether the text holds a number node-semver cannot take exactly: it rejects MAJOR, MINOR or PATCH
/// above `Number.MAX_SAFE_INTEGER` and compares larger prerelease numbers as floating point.
fn beyond_node_semver(v: &str) -> bool {
    let v = v.split('+').next().unwrap_or(v);
    v.split(['.', '-']).any(|part| {
        let digits = part.trim_start_matches('v');
        !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit()) && {
            let t = digits.trim_start_matches('0');
            t.len() > 16 || t.parse::<u64>().unwrap_or(0) > (1 << 53) - 1
        }
    })
}

#[test]
fn semver_agrees_with_node_semver() {
    let Some(dir) = node_semver_dir() else { return };
    let pairs = pairs(0x5E_3E2, SEMVER_PAIRS, |r| semver_version(r, true), &SEMVER_INSERTS);
    let script = r#"
const semver = require('semver');
const lines = require('fs').readFileSync(0, 'utf8').split('\n').filter(l => l.length > 0);
const out = lines.map(line => {
  const [a, b] = line.split('\t');
  try {
    const r = semver.compare(a, b);
    return r < 0 ? '<' : r > 0 ? '>' : '=';
  } catch (e) {
    return 'E';
  }
});
process.stdout.write(out.join('\n') + '\n');
"#;
    let input: String = pairs.iter().map(|(a, b)| format!("{a}\t{b}\n")).collect();
    let answers = run_with_input("node", &["-e", script], Some(&dir), &input).expect("node runs");
    let ordered = check_against(Scheme::Semver, "node-semver compare", &pairs, &answers, beyond_node_semver);
    assert!(ordered > SEMVER_PAIRS * 8 / 10, "node-semver ordered only {ordered} pairs");
}

// ---------------------------------------------------------------------------------------------
// PyPI: PEP 440

const PEP440_PAIRS: usize = 5000;

/// Python's `packaging` (pip vendors the same code), pinned by version and hash.
const PACKAGING_REQUIREMENTS: &str =
    "packaging==24.2 --hash=sha256:09abb1bccd265c01f4a3aa3f7a7db064b36514d2cba19a2f694fe6150451a759\n";

/// Pairs whose order is easy to get wrong: every spelling, the dev / pre / post / local
/// interplay, zero padding, epochs, and text `packaging` rejects.
const PEP440_TRICKY: &[(&str, &str)] = &[
    ("1.0.dev0", "1.0a1"),
    ("1.0a1", "1.0a1.post1"),
    ("1.0a1.post1", "1.0b1"),
    ("1.0b1", "1.0rc1"),
    ("1.0rc1", "1.0"),
    ("1.0", "1.0+local"),
    ("1.0+local", "1.0.post1"),
    ("1.0.post1.dev1", "1.0.post1"),
    ("1.0", "1.0.post1.dev1"),
    ("1.0a1.dev1", "1.0a1"),
    ("1.0.dev1", "1.0a1.dev1"),
    ("1.0a1.post1.dev1", "1.0a1.post1"),
    ("1.0", "1.0.0"),
    ("1.0", "1.0.0.0.0.1"),
    ("1.01", "1.1"),
    ("1.0.dev", "1.0.dev0"),
    ("1.0alpha", "1.0a0"),
    ("1.0-alpha.1", "1.0a1"),
    ("1.0_beta_2", "1.0b2"),
    ("1.0c1", "1.0rc1"),
    ("1.0pre1", "1.0rc1"),
    ("1.0preview1", "1.0rc1"),
    ("1.0-1", "1.0.post1"),
    ("1.0rev1", "1.0.post1"),
    ("1.0r1", "1.0-r-1"),
    ("1.0.post", "1.0"),
    ("1.0a.", "1.0a0"),
    ("1.0a1-1", "1.0a1.post1"),
    ("1!1.0", "2.0"),
    ("0!1.0", "1.0"),
    ("v1.0", "1.0"),
    ("V1.0RC1", "1.0rc1"),
    (" 1.0 ", "1.0"),
    ("1.0+abc", "1.0+ABC"),
    ("1.0+abc", "1.0+1"),
    ("1.0+1", "1.0+01"),
    ("1.0+1.abc", "1.0+1"),
    ("1.0+a-b_c", "1.0+a.b.c"),
    ("1.0+9", "1.0+10"),
    ("99999999999999999999999", "99999999999999999999998"),
    ("1.0.dev9999999999999999999999", "1.0.dev10000000000000000000000"),
    ("1.0-", "1.0"),
    ("1.0+", "1.0"),
    ("1.0prev", "1.0"),
    ("1.0.dev1.post1", "1.0"),
    ("1..0", "1.0"),
    ("", "0"),
];

/// A virtualenv with `packaging` made once per target directory (PyPI permitting).
fn python_with_packaging() -> Option<PathBuf> {
    let steps = [common::venv::Requirements { text: PACKAGING_REQUIREMENTS, pip_args: &["--require-hashes"] }];
    require(
        common::venv::python("packaging-venv", &steps),
        "the virtualenv needs the Debian package python3-venv (scripts/test installs it) and PyPI",
    )
}

#[test]
fn pep440_agrees_with_python_packaging() {
    let Some(python) = python_with_packaging() else { return };
    let mut pairs = pairs(0x9E9_440, PEP440_PAIRS, pep440_version, &PEP440_INSERTS);
    pairs.extend(PEP440_TRICKY.iter().map(|(a, b)| (a.to_string(), b.to_string())));
    // JSON lines, so that versions holding tabs or newlines reach Python intact.
    let script = r#"
import json, sys
from packaging.version import Version, InvalidVersion
out = []
for line in sys.stdin:
    a, b = json.loads(line)
    try:
        va, vb = Version(a), Version(b)
    except InvalidVersion:
        out.append("E")
        continue
    out.append("<" if va < vb else ">" if va > vb else "=")
sys.stdout.write("\n".join(out) + "\n")
"#;
    let input: String = pairs.iter().map(|pair| serde_json::to_string(pair).unwrap() + "\n").collect();
    let answers = run_with_input(python.to_str().unwrap(), &["-c", script], None, &input).expect("python runs");
    // Validity text by text, both ways: a version packaging accepts and we reject would not be
    // matched, one we accept and it rejects would be matched by a guess.
    let texts: std::collections::BTreeSet<&String> = pairs.iter().flat_map(|(a, b)| [a, b]).collect();
    let validity = r#"
import json, sys
from packaging.version import Version, InvalidVersion
def valid(v):
    try:
        Version(v)
        return "1"
    except InvalidVersion:
        return "0"
sys.stdout.write("".join(valid(json.loads(line)) for line in sys.stdin) + "\n")
"#;
    let input: String = texts.iter().map(|v| serde_json::to_string(v).unwrap() + "\n").collect();
    let verdicts = run_with_input(python.to_str().unwrap(), &["-c", validity], None, &input).expect("python runs");
    let disagreements: Vec<String> = texts
        .iter()
        .zip(verdicts.trim_end().chars())
        .filter(|(v, verdict)| Scheme::Pep440.is_valid(v) != (*verdict == '1'))
        .map(|(v, verdict)| format!("{v:?}: packaging says valid={}, we say the opposite", verdict == '1'))
        .collect();
    assert_eq!(verdicts.trim_end().len(), texts.len(), "packaging judged {} of {} texts", verdicts.len(), texts.len());
    assert!(
        disagreements.is_empty(),
        "{} validity disagreements:\n{:#?}",
        disagreements.len(),
        &disagreements[..disagreements.len().min(30)]
    );
    let valid = verdicts.chars().filter(|c| *c == '1').count();
    println!("Pep440: {valid} of {} distinct texts valid, agreeing with packaging", texts.len());
    let ordered = check_against(Scheme::Pep440, "packaging.version.Version", &pairs, &answers, |_| false);
    assert!(ordered > PEP440_PAIRS * 7 / 10, "packaging ordered only {ordered} pairs");
}

// ---------------------------------------------------------------------------------------------
// Total order properties

/// Random text: mostly versions of every scheme, some garbage, so each scheme also sees text it
/// rejects.
fn sample(r: &mut Rng, n: usize, scheme: Scheme) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(n);
    while out.len() < n {
        let v = match r.below(10) {
            0 => debian_version(r),
            1 => rpm_version(r),
            2 => apk_version(r),
            3 => semver_version(r, false),
            4 => (0..r.below(6)).map(|_| r.pick_char("0123456789.-_~^+:abrpvAZ ")).collect(),
            _ => match scheme {
                Scheme::Dpkg => debian_version(r),
                Scheme::Apk => apk_version(r),
                Scheme::Rpm => rpm_version(r),
                Scheme::Semver => semver_version(r, false),
                Scheme::Pep440 => pep440_version(r),
            },
        };
        // Cluster: half the time add a near neighbour of something already drawn.
        if !out.is_empty() && r.chance(50) {
            let base = out[r.below(out.len())].clone();
            out.push(mutate(r, &base, &["~", "^", ".", "-r1", "_p1", "_rc", "a", "0", "1", "-1", "-", ":", "+", "-a"]));
        }
        out.push(v);
    }
    out.truncate(n);
    out
}

#[test]
fn total_order_properties() {
    for (k, scheme) in ALL.into_iter().enumerate() {
        for round in 0..3u64 {
            let mut r = Rng(0x7077_A100 + 17 * k as u64 + round);
            let vs = sample(&mut r, 120, scheme);
            let n = vs.len();
            let m: Vec<Vec<Ordering>> = vs.iter().map(|a| vs.iter().map(|b| scheme.compare(a, b)).collect()).collect();
            for i in 0..n {
                assert_eq!(m[i][i], Ordering::Equal, "{scheme:?}: {:?} is not equal to itself", vs[i]);
                for j in 0..n {
                    assert_eq!(m[i][j], m[j][i].reverse(), "{scheme:?}: antisymmetry of {:?} and {:?}", vs[i], vs[j]);
                }
            }
            let mut triples = 0usize;
            for i in 0..n {
                for j in 0..n {
                    if m[i][j] == Ordering::Greater {
                        continue;
                    }
                    for l in 0..n {
                        if m[j][l] == Ordering::Greater {
                            continue;
                        }
                        triples += 1;
                        // a <= b and b <= c imply a <= c, with a == c only when all three are equal.
                        let (ab, bc, ac) = (m[i][j], m[j][l], m[i][l]);
                        let want = if ab == Ordering::Equal && bc == Ordering::Equal {
                            Ordering::Equal
                        } else {
                            Ordering::Less
                        };
                        assert_eq!(
                            ac,
                            want,
                            "{scheme:?}: {:?} {} {:?} {} {:?} but {:?} {} {:?}",
                            vs[i],
                            sym(ab),
                            vs[j],
                            sym(bc),
                            vs[l],
                            vs[i],
                            sym(ac),
                            vs[l]
                        );
                    }
                }
            }
            // Sorting must agree with the pairwise answers.
            let mut sorted = vs.clone();
            sorted.sort_by(|a, b| scheme.compare(a, b));
            for w in sorted.windows(2) {
                assert_ne!(scheme.compare(&w[0], &w[1]), Ordering::Greater);
            }
            if round == 0 {
                println!("{scheme:?}: {triples} ordered triples transitive over {n} sampled texts");
            }
        }
    }
}

#[test]
fn invalid_text_is_placed_deterministically() {
    for scheme in ALL {
        for (a, b) in [("", "1"), ("not a version", "1.0"), ("1 2", "3 4"), ("\u{e9}", "-")] {
            let x = scheme.compare(a, b);
            assert_eq!(x, scheme.compare(a, b));
            assert_eq!(x.reverse(), scheme.compare(b, a), "{scheme:?} {a:?} {b:?}");
        }
        assert!(!scheme.is_valid(""), "{scheme:?} accepts the empty string");
    }
}
