//! The user directory as CSV (`mailgate user export`, the console's "Export CSV"): the columns
//! `user import` reads (email, name, org, phone, additional emails and the user form's keys), so an export imports
//! back unchanged. Cells a spreadsheet would run as a formula are written with a leading `'`,
//! which the import takes off again (docs/directory.md, "Exporting users").

use std::io::Write;

use super::Workflows;
use crate::core::forms::{FieldType, Form};
use crate::ingest::IngestError;
use crate::store::users::{self as user_store, ExportRow};

/// Users read per transaction: an export of a large directory never holds it whole.
const EXPORT_PAGE: i64 = 2_000;

/// What separates the choices of a `multi_choice` field in one cell.
pub const CHOICE_SEPARATOR: &str = "; ";

/// Why an export could not start.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("no organization has the key {0:?}")]
    NoOrg(String),
    #[error("cannot write the CSV: {0}")]
    Write(#[from] csv::Error),
    #[error(transparent)]
    Store(#[from] IngestError),
}

impl Workflows {
    /// Writes every user (of the organization `org`, when given) as CSV to `out`, page by page;
    /// how many.
    pub async fn export_users<W: Write>(&self, org: Option<&str>, out: W) -> Result<u64, ExportError> {
        let form = self.app().settings().user_form.clone();
        let org_id = match org {
            None => None,
            Some(key) => {
                let wanted = key.to_string();
                let found = self
                    .app()
                    .store()
                    .read(move |tx| user_store::org_id(tx, &wanted))
                    .await
                    .map_err(IngestError::from)?;
                Some(found.ok_or_else(|| ExportError::NoOrg(key.to_string()))?)
            }
        };
        let mut writer = csv::Writer::from_writer(out);
        writer.write_record(header(form.as_ref()))?;
        let (mut after, mut count) = (String::new(), 0u64);
        loop {
            let from = after.clone();
            let page = self
                .app()
                .store()
                .read(move |tx| user_store::export_page(tx, org_id, &from, EXPORT_PAGE))
                .await
                .map_err(IngestError::from)?;
            for row in &page {
                writer.write_record(record(form.as_ref(), row).iter().map(|cell| defused(cell)))?;
                count += 1;
            }
            match page.last() {
                Some(last) if page.len() as i64 == EXPORT_PAGE => after = last.email.clone(),
                _ => break,
            }
        }
        writer.flush().map_err(csv::Error::from)?;
        Ok(count)
    }
}

/// `email,name,org,phone,emails` and the user form's keys, in the form's order.
fn header(form: Option<&Form>) -> Vec<String> {
    let mut columns: Vec<String> = ["email", "name", "org", "phone", "emails"].map(str::to_string).to_vec();
    columns.extend(form.iter().flat_map(|form| form.fields.iter().map(|field| field.key.clone())));
    columns
}

/// One user's cells, as `user import` reads them back.
fn record(form: Option<&Form>, row: &ExportRow) -> Vec<String> {
    let mut cells = vec![
        row.email.clone(),
        row.name.clone(),
        row.org_key.clone().unwrap_or_default(),
        row.phone.clone(),
        row.emails.clone(),
    ];
    let values = match serde_json::from_str::<serde_json::Value>(&row.custom_json) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    for field in form.iter().flat_map(|form| form.fields.iter()) {
        cells.push(match (field.kind, values.get(&field.key)) {
            (_, None | Some(serde_json::Value::Null)) => String::new(),
            (FieldType::Bool, Some(serde_json::Value::Bool(ticked))) => {
                if *ticked { "yes" } else { "" }.to_string()
            }
            (_, Some(serde_json::Value::String(text))) => text.clone(),
            (_, Some(serde_json::Value::Array(items))) => items
                .iter()
                .map(|item| item.as_str().map_or_else(|| item.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join(CHOICE_SEPARATOR),
            (_, Some(other)) => other.to_string(),
        });
    }
    cells
}

/// The characters that make a spreadsheet read a cell as a formula (OWASP "CSV injection").
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// `cell` with a leading `'` when it starts like a formula, so a spreadsheet shows it as text.
pub fn defused(cell: &str) -> String {
    match cell.starts_with(FORMULA_STARTS) {
        true => format!("'{cell}"),
        false => cell.to_string(),
    }
}

/// The cell an export defused, as it was: one leading `'` before a formula start is taken off.
pub fn undefused(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_STARTS) => rest,
        _ => cell,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_defused_and_read_back() {
        for cell in ["=HYPERLINK(\"http://x\")", "+49 30 1234", "-1", "@SUM(A1)", "\tx"] {
            assert_eq!(defused(cell), format!("'{cell}"));
            assert_eq!(undefused(&defused(cell)), cell);
        }
        assert_eq!(defused("Ann"), "Ann");
        assert_eq!(undefused("'quoted'"), "'quoted'", "only a defusing quote is taken off");
    }
}
