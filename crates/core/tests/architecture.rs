//! The dependency rule, checked on the sources: a module imports only its own folder and
//! modules of a lower rank, never a sibling of its own rank (lib.rs lists the ranks). Test code
//! (after `#[cfg(test)]`) and comments are left out: the rule is about what ships.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Each top-level module of `crates/core/src` and its rank.
const RANK: &[(&str, u8)] = &[
    ("support", 0),
    ("mode", 1),
    ("ids", 1),
    ("reason", 1),
    ("inbound", 2),
    ("secrets", 2),
    ("stripe", 2),
    ("ledger", 2),
    ("telemetry", 2),
    ("pipeline", 3),
    ("consumer", 4),
    ("reconcile", 4),
    ("notifications", 4),
    ("ops", 5),
];

fn rank(module: &str) -> u8 {
    RANK.iter()
        .find(|(m, _)| *m == module)
        .map(|(_, r)| *r)
        .unwrap_or_else(|| panic!("module {module} has no rank: add it to RANK and lib.rs"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/ledger/unapplied.rs` → `ledger`; `src/stripe.rs` → `stripe`.
fn top_module(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).expect("under src");
    let first = relative.components().next().expect("a component");
    first
        .as_os_str()
        .to_string_lossy()
        .trim_end_matches(".rs")
        .to_string()
}

/// The code that ships: before the test module, without comments.
fn production_code(text: &str) -> String {
    let shipped = text.split("#[cfg(test)]").next().unwrap_or_default();
    shipped
        .lines()
        .map(|l| match l.find("//") {
            Some(at) => &l[..at],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every top-level module named by a `crate::<module>` path.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `use crate::{a, b::c}`: each first segment.
            let end = group.find('}').unwrap_or(group.len());
            for part in group[..end].split(',') {
                let name: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    used.insert(name);
                }
            }
            continue;
        }
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            used.insert(name);
        }
    }
    used
}

#[test]
fn imports_point_down_the_ranks() {
    let src = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src"));
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut violations = Vec::new();
    let mut seen_modules = BTreeSet::new();
    for file in &files {
        if file.ends_with("lib.rs") {
            continue;
        }
        let here = top_module(&src, file);
        seen_modules.insert(here.clone());
        let text = std::fs::read_to_string(file).expect("read source");
        for used in crate_paths(&production_code(&text)) {
            if used != here && rank(&used) >= rank(&here) {
                violations.push(format!(
                    "{}: {here} (rank {}) imports {used} (rank {})",
                    file.strip_prefix(&src).unwrap_or(file).display(),
                    rank(&here),
                    rank(&used)
                ));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "imports that point up or sideways:\n{}",
        violations.join("\n")
    );
    let ranked: BTreeSet<String> = RANK.iter().map(|(m, _)| m.to_string()).collect();
    assert_eq!(
        seen_modules, ranked,
        "every module is ranked, every rank is a module"
    );
}

/// A folder's files are private: other code reaches them through the folder's re-exports.
#[test]
fn folders_keep_their_files_private() {
    let src = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src"));
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    // `support` is a shelf of small helper namespaces (`support::clock::now_ms`), not a
    // subsystem with an API of its own.
    for file in files
        .iter()
        .filter(|f| f.ends_with("mod.rs") && !f.ends_with("support/mod.rs"))
    {
        let text = std::fs::read_to_string(file).expect("read mod.rs");
        let code = production_code(&text);
        let public: Vec<&str> = code
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("pub mod "))
            .collect();
        // Inline namespaces of constants (a table's layout) are not files.
        let allowed = |l: &&str| l.ends_with('{');
        let unexpected: Vec<&&str> = public.iter().filter(|l| !allowed(l)).collect();
        assert!(
            unexpected.is_empty(),
            "{}: public submodules {unexpected:?}",
            file.display()
        );
    }
}

/// The checker itself, on known inputs.
#[test]
fn the_checker_reads_paths_groups_and_skips_comments_and_tests() {
    let code = "use crate::ledger::Ledger;\nuse crate::{ids, reason::Reason};\n// crate::ops in a comment\nfn f() { crate::support::clock::now_ms(); }\n#[cfg(test)]\nmod tests { use crate::ops; }";
    let used = crate_paths(&production_code(code));
    let want: BTreeSet<String> = ["ledger", "ids", "reason", "support"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(used, want);
}
