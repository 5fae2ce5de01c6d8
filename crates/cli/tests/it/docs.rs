//! Docs that cannot drift: what README.md and docs/ say is checked against the code it
//! describes. Remove an event type, a variable, a command, a flag, a parameter or a test from
//! the code and one of these fails; document one the code lacks and it fails too.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use payhook_cli::commands::Cli;
use payhook_testkit::repo_path;

fn read(relative: &str) -> String {
    let path = repo_path(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn docs() -> Vec<(String, String)> {
    let mut out = vec![("README.md".to_string(), read("README.md"))];
    let mut entries: Vec<PathBuf> = std::fs::read_dir(repo_path("docs"))
        .expect("docs/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    entries.sort();
    for p in entries {
        let name = format!("docs/{}", p.file_name().unwrap().to_string_lossy());
        out.push((name.clone(), read(&name)));
    }
    out
}

/// The text of `## heading` up to the next `## `.
fn section<'a>(text: &'a str, heading: &str) -> &'a str {
    let start = text
        .find(&format!("\n## {heading}"))
        .unwrap_or_else(|| panic!("no section {heading:?}"));
    let rest = &text[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |e| e + 3);
    &rest[..end]
}

/// Every `backticked` span.
fn backticked(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// The first column of a markdown table's rows, unticked.
fn first_column(table: &str) -> BTreeSet<String> {
    table
        .lines()
        .filter(|l| l.starts_with("| `"))
        .filter_map(|l| backticked(l).first().map(|s| s.to_string()))
        .collect()
}

#[test]
fn the_event_types_subscribers_enable_are_the_ones_the_consumer_handles() {
    let text = read("docs/subscribers.md");
    let listed: BTreeSet<String> = section(&text, "The Stripe webhook endpoint")
        .lines()
        .filter_map(|l| l.strip_prefix("- `"))
        .filter_map(|l| l.strip_suffix('`'))
        .map(str::to_string)
        .collect();
    let handled: BTreeSet<String> = payhook::inbound::HANDLED_TYPES
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(listed, handled);
}

#[test]
fn the_documented_variables_are_the_ones_each_function_reads() {
    let text = read("docs/operating.md");
    let config = section(&text, "Configuration (Lambda environment)");
    let table = first_column(config);
    let consumer: BTreeSet<String> = payhook::ops::CONSUMER_VARIABLES
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(table, consumer, "the consumer's table");
    let mentioned: BTreeSet<&str> = backticked(config).into_iter().collect();
    for v in payhook::ops::SCHEDULE_VARIABLES
        .iter()
        .chain(&payhook::ops::NOTIFIER_VARIABLES)
    {
        assert!(mentioned.contains(v), "{v} is not documented");
    }
}

#[test]
fn the_documented_parameters_are_the_templates() {
    let template = read("template.yaml");
    let params = &template[template.find("\nParameters:\n").expect("Parameters")..];
    let params = &params[..params.find("\nConditions:").expect("Conditions")];
    let in_template: BTreeSet<String> = params
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   ") && l.ends_with(':'))
        .map(|l| l.trim().trim_end_matches(':').to_string())
        .collect();
    let text = read("docs/operating.md");
    assert_eq!(first_column(section(&text, "Parameters")), in_template);
}

/// Every subcommand path (`keyset add-key`, `dev sam-env`…).
fn subcommands(cmd: &clap::Command, prefix: &str, out: &mut Vec<String>) {
    for sub in cmd.get_subcommands() {
        let path = format!("{prefix}{}", sub.get_name());
        if sub.has_subcommands() {
            subcommands(sub, &format!("{path} "), out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn every_command_is_documented_in_the_cli_reference() {
    let reference = read("docs/cli.md");
    let mut all = Vec::new();
    subcommands(&Cli::command(), "", &mut all);
    assert!(all.len() > 20, "{all:?}");
    for path in all {
        // `keyset add-key` is documented in the row for `keyset add-key …`; a group's rows may
        // share a cell (`dev provision`, `dev record`…).
        let leaf = path.rsplit(' ').next().unwrap_or(&path);
        assert!(
            reference.contains(&format!("`{path}")) || reference.contains(&format!(" {leaf} ")),
            "payhook {path} is not in docs/cli.md"
        );
    }
}

/// Placeholders in documented command lines, filled so the line can be parsed.
fn filled(line: &str) -> String {
    let mut out = line.to_string();
    for (from, to) in [
        (
            "<ConsumerKeysSecretArn>",
            "arn:aws:secretsmanager:us-east-1:1:secret:k",
        ),
        ("<DeadLetterQueueUrl>", "https://sqs/1/dlq"),
        ("<RejectedQueueUrl>", "https://sqs/1/rejected"),
        ("<WebhookQueueUrl>", "https://sqs/1/q"),
        ("<old webhook queue URL>", "https://sqs/1/old"),
        ("<old DLQ URL>", "https://sqs/1/old-dlq"),
        ("<new WebhookQueueUrl>", "https://sqs/1/new"),
        ("<base64>", "AAAA"),
        ("$QUEUE_URL", "https://sqs/1/q"),
        ("$DEAD_LETTER_QUEUE_URL", "https://sqs/1/dlq"),
        ("$PI", "pi_1"),
        ("\"$PI\"", "pi_1"),
        ("pi_…", "pi_1"),
        ("msg_pi_3Qx…", "msg_pi_1"),
        ("…", ""),
    ] {
        out = out.replace(from, to);
    }
    out
}

/// A documented command line: where it is, the line, and the variables its code block exports
/// (a flag with `env = …` takes its value from them).
struct Documented {
    doc: String,
    line: String,
    exported: Vec<String>,
}

/// `payhook …` command lines in the docs' code blocks (continuations joined, environment
/// assignments, comments and a trailing `&` dropped). Lines that elide options with ` … `
/// stand for the line before them and are left out.
fn documented_command_lines() -> Vec<Documented> {
    let mut out = Vec::new();
    for (name, text) in docs() {
        let mut in_code = false;
        let mut current = String::new();
        let mut exported: Vec<String> = Vec::new();
        for raw in text.lines() {
            if raw.trim_start().starts_with("```") {
                in_code = !in_code;
                exported.clear();
                continue;
            }
            if !in_code {
                continue;
            }
            let line = raw.split(" # ").next().unwrap_or(raw).trim_end();
            if let Some(cont) = line.strip_suffix('\\') {
                current.push_str(cont.trim());
                current.push(' ');
                continue;
            }
            current.push_str(line.trim());
            let whole = std::mem::take(&mut current);
            if let Some(assignments) = whole.strip_prefix("export ") {
                for a in assignments.split_whitespace() {
                    if let Some((var, _)) = a.split_once('=') {
                        exported.push(var.to_string());
                    }
                }
                continue;
            }
            let words: Vec<&str> = whole.split_whitespace().collect();
            // Skip `VAR=value` assignments and a `$ ` prompt.
            let start = words
                .iter()
                .position(|w| !w.contains('=') && *w != "$")
                .unwrap_or(words.len());
            let command = words[start..].join(" ");
            let command = command.split(" > ").next().unwrap_or(&command);
            let command = command.split(" | ").next().unwrap_or(command);
            let command = command.trim_end_matches(" &").to_string();
            let is_payhook =
                command.starts_with("payhook ") || command.starts_with("target/debug/payhook ");
            if is_payhook && !command.contains(" … ") {
                out.push(Documented {
                    doc: name.clone(),
                    line: command,
                    exported: exported.clone(),
                });
            }
        }
    }
    out
}

/// The flags that read an exported variable, for the subcommand `args` names.
fn flags_from_env(args: &[&str], exported: &[String]) -> Vec<String> {
    let mut cmd = Cli::command();
    for word in args.iter().skip(1) {
        match cmd.find_subcommand(word) {
            Some(sub) => cmd = sub.clone(),
            None => break,
        }
    }
    cmd.get_arguments()
        .filter_map(|a| {
            let env = a.get_env()?.to_string_lossy().to_string();
            let long = a.get_long()?;
            (exported.contains(&env) && !args.contains(&format!("--{long}").as_str()))
                .then(|| format!("--{long}=x"))
        })
        .collect()
}

#[test]
fn every_documented_payhook_command_line_parses() {
    let lines = documented_command_lines();
    assert!(lines.len() > 30, "found only {} command lines", lines.len());
    let mut failures = Vec::new();
    for d in &lines {
        let filled = filled(&d.line);
        let mut args: Vec<&str> = filled.split_whitespace().collect();
        args[0] = "payhook";
        // An optional part shown as `[--until …]` is not a literal argument.
        let args: Vec<&str> = args
            .into_iter()
            .filter(|a| !a.starts_with('[') && !a.ends_with(']'))
            .collect();
        let from_env = flags_from_env(&args, &d.exported);
        let mut all: Vec<&str> = args.clone();
        all.extend(from_env.iter().map(String::as_str));
        if let Err(e) = <Cli as clap::Parser>::try_parse_from(&all) {
            failures.push(format!(
                "{}: `{}`: {}",
                d.doc,
                d.line,
                e.to_string().lines().next().unwrap_or_default()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A `module::test_name` the docs cite, and whether a test or item of that name exists where
/// the module says.
fn cited_exists(citation: &str) -> bool {
    let parts: Vec<&str> = citation.split("::").collect();
    let last = parts
        .last()
        .unwrap_or(&"")
        .trim_end_matches('…')
        .trim_end_matches('*');
    let root_tests = repo_path("tests/it");
    let file: Option<PathBuf> = match parts.as_slice() {
        ["cli", module, ..] => Some(repo_path(&format!("crates/cli/tests/it/{module}.rs"))),
        [module, ..] if root_tests.join(format!("{module}.rs")).exists() => {
            Some(root_tests.join(format!("{module}.rs")))
        }
        [module @ ("emf" | "architecture"), ..] => {
            Some(repo_path(&format!("crates/core/tests/{module}.rs")))
        }
        _ => None,
    };
    let sources: Vec<String> = match &file {
        Some(f) => vec![std::fs::read_to_string(f).unwrap_or_default()],
        None => {
            let mut files = Vec::new();
            for dir in ["crates/core/src", "crates/testkit/src", "crates/cli/src"] {
                rust_files(&repo_path(dir), &mut files);
            }
            files
                .iter()
                .map(|f| std::fs::read_to_string(f).unwrap_or_default())
                .collect()
        }
    };
    if last.is_empty() || last == "tests" {
        return true;
    }
    let named = |s: &String| {
        ["fn", "mod", "struct", "enum", "trait"]
            .iter()
            .any(|kind| s.contains(&format!("{kind} {last}")))
    };
    // A module of the library (`ops::config`) is a file or a folder.
    let a_module = file.is_none()
        && ["crates/core/src", "crates/testkit/src", "crates/cli/src"]
            .iter()
            .any(|dir| {
                let base = repo_path(dir).join(parts[..parts.len() - 1].join("/"));
                base.join(format!("{last}.rs")).exists() || base.join(last).is_dir()
            });
    sources.iter().any(named) || a_module
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_test_the_docs_cite_exists() {
    let mut missing = Vec::new();
    let mut cited = 0;
    for (doc, text) in docs() {
        for span in backticked(&text) {
            let is_path = span.contains("::")
                && span
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_:…*".contains(c));
            if !is_path || span.starts_with("payhook") {
                continue;
            }
            cited += 1;
            if !cited_exists(span) {
                missing.push(format!("{doc}: {span}"));
            }
        }
    }
    assert!(cited > 40, "found only {cited} citations");
    assert!(
        missing.is_empty(),
        "cited but not found:\n{}",
        missing.join("\n")
    );
}

#[test]
fn a_citation_of_a_test_that_does_not_exist_is_caught() {
    assert!(cited_exists(
        "rotation::a_removed_issuer_stops_opening_bundles_once_the_copy_is_older_than_its_max_age"
    ));
    assert!(cited_exists(
        "cli::stack::stack_check_sends_through_the_webhook_url_and_reads_the_consumers_notice"
    ));
    assert!(!cited_exists("rotation::a_test_nobody_wrote"));
    assert!(!cited_exists("cli::dlq::a_test_nobody_wrote"));
}
