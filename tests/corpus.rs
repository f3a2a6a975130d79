//! The shared corpus of real messages (../shared/corpus, or $MAILGATE_CORPUS): every message is
//! ingested without panic and ends as a ticket entry, a quarantine row with a reason, or a recorded
//! duplicate; bounces and auto-replies are recognised. Read in place, never copied.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::{Backend, Harness};
use mailgate::core::classify::{ClassifyContext, classify};
use mailgate::ingest::{Delivery, LOOP_HEADER, Outcome};
use mailgate::parse::{Limits, parse_email};
use mailgate::store::inbound::Source;
use mailgate::store::tickets::EntryClass;

fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("MAILGATE_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus")));
    dir.join("INDEX.tsv").is_file().then_some(dir)
}

/// `file -> category` from INDEX.tsv.
fn index(dir: &std::path::Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(dir.join("INDEX.tsv"))
        .unwrap()
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            Some((cols.first()?.to_string(), cols.get(3)?.to_string()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_corpus_message_is_stored_or_quarantined() {
    let dir = corpus_dir();
    if !common::require(
        dir.is_some(),
        "corpus: no INDEX.tsv in $MAILGATE_CORPUS or ../shared/corpus",
        "set MAILGATE_CORPUS",
    ) {
        return;
    }
    let dir = dir.expect("checked");
    let labels = index(&dir);
    assert!(labels.len() > 100, "the corpus index lists {} files; expected the whole corpus", labels.len());
    let h = Harness::new(Backend::Sqlite).await.unwrap();
    let own = h.app.settings().own_addresses.clone();
    let context = ClassifyContext {
        own_addresses: &own,
        loop_header: LOOP_HEADER,
        loop_header_value: &h.app.settings().message_id_domain,
        // A fresh database: none of the corpus ids can be one we sent.
        message_id_is_ours: false,
    };

    let mut outcomes: BTreeMap<&str, usize> = BTreeMap::new();
    let mut confusion: BTreeMap<(String, &str), usize> = BTreeMap::new();
    for (file, category) in &labels {
        let raw = std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let (class, reason) = match parse_email(&raw, &Limits::default()) {
            Ok(email) => {
                let decided = classify(&email, &context);
                (EntryClass::of(&decided.class).as_str(), decided.reason)
            }
            Err(err) => ("malformed", err.to_string()),
        };
        let expected = match category.as_str() {
            "bounce" => Some("bounce"),
            "autoreply" => Some("auto-reply"),
            _ => None,
        };
        // Every disagreement with the label, with the rule that fired (`CORPUS_ALL=1`: every file).
        if std::env::var_os("CORPUS_ALL").is_some()
            || matches!(class, "bounce" | "auto-reply") != expected.is_some()
            || expected.is_some_and(|e| e != class)
        {
            println!("differs: {file} ({category}) -> {class}: {reason}");
        }
        *confusion.entry((category.clone(), class)).or_default() += 1;

        let report = h
            .ingestor
            .ingest(&raw, &Delivery::new(Source::Pipe))
            .await
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let kind = match &report.outcome {
            Outcome::Created { .. } | Outcome::Added { .. } => "ticket",
            Outcome::Quarantined { reason } => {
                assert!(!reason.is_empty(), "{file}: quarantined without a reason");
                "quarantined"
            }
            Outcome::Duplicate => "duplicate",
            Outcome::Loop => "loop",
        };
        *outcomes.entry(kind).or_default() += 1;
    }

    // Every accepted message is in the database exactly once, with its raw bytes.
    let stored = h.scalar_i64("SELECT COUNT(*) FROM inbound").await as usize;
    assert_eq!(stored, labels.len() - outcomes.get("duplicate").copied().unwrap_or(0));
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM inbound WHERE outcome = 'processing'").await, 0);
    assert_eq!(
        h.scalar_i64("SELECT COUNT(*) FROM inbound i WHERE outcome = 'ticket' AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.inbound_id = i.id)").await,
        0
    );

    println!("outcomes: {outcomes:?}");
    let classes = ["normal", "auto-reply", "abuse-report", "list", "bounce", "loop", "malformed"];
    println!("{:<12} {}", "category", classes.map(|c| format!("{c:>13}")).join(""));
    let categories: std::collections::BTreeSet<&String> = labels.values().collect();
    for category in categories {
        let n = |class: &str| confusion.get(&(category.clone(), class)).copied().unwrap_or(0);
        println!("{:<12} {}", category, classes.map(|c| format!("{:>13}", n(c))).join(""));
    }
    for (category, class) in [("bounce", "bounce"), ("autoreply", "auto-reply")] {
        let (hit, labelled) = rate(&confusion, category, class);
        let predicted: usize = confusion.iter().filter(|((_, c), _)| *c == class).map(|(_, n)| n).sum();
        println!("{class}: recall {hit}/{labelled} precision {hit}/{predicted}");
    }
    for (category, class) in [("bounce", "bounce"), ("autoreply", "auto-reply")] {
        let (hit, total) = rate(&confusion, category, class);
        assert!(total > 0, "no {category} files in the corpus index");
        assert!(hit * 10 >= total * 9, "{category}: only {hit}/{total} classified {class}");
    }
}

/// `(messages of category classified class, messages of category)`.
fn rate(confusion: &BTreeMap<(String, &str), usize>, category: &str, class: &str) -> (usize, usize) {
    let total: usize = confusion.iter().filter(|((c, _), _)| c == category).map(|(_, n)| n).sum();
    let hit = confusion.get(&(category.to_string(), class)).copied().unwrap_or(0);
    (hit, total)
}
