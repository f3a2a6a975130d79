//! For tests that hold a document in `docs/` to the code: the rows of a markdown table.

/// The rows of the markdown table that follows the line containing `heading` in `doc`, as trimmed
/// cells (the header and separator rows skipped). Panics, naming the heading, when there is none.
pub(crate) fn table_after(doc: &str, heading: &str) -> Vec<Vec<String>> {
    let start = doc.find(heading).unwrap_or_else(|| panic!("the document has no {heading:?}"));
    doc[start..]
        .lines()
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .skip(2)
        .map(|line| line.trim_matches('|').split('|').map(|cell| cell.trim().to_string()).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_table_is_read_after_its_heading() {
        let doc =
            "# Title\nOther text\n\nBy page:\n\n| a | b |\n|---|---|\n| `x` | y |\n| z | w |\n\nafter\n";
        assert_eq!(super::table_after(doc, "By page"), [vec!["`x`", "y"], vec!["z", "w"]]);
    }
}
