//! The bench's result: one table (figure, measured, target, met?) printed and written as JSON.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{Map, Value, json};

/// One line of the table.
pub struct Row {
    pub figure: String,
    pub measured: String,
    pub target: String,
    /// `None` for figures without a target (baselines, context).
    pub met: Option<bool>,
}

/// Everything the bench found: table rows, free-text notes and raw figures for the JSON file.
#[derive(Default)]
pub struct Report {
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
    pub raw: Map<String, Value>,
}

impl Report {
    /// A figure with no target.
    pub fn info(&mut self, figure: &str, measured: String) {
        self.rows.push(Row {
            figure: figure.into(),
            measured,
            target: "—".into(),
            met: None,
        });
    }

    /// A figure with a target and whether it was met.
    pub fn check(&mut self, figure: &str, measured: String, target: &str, met: bool) {
        self.rows.push(Row {
            figure: figure.into(),
            measured,
            target: target.into(),
            met: Some(met),
        });
    }

    pub fn note(&mut self, note: String) {
        println!("xtask bench: {note}");
        self.notes.push(note);
    }

    /// The table, columns padded to their widest cell.
    pub fn table(&self) -> String {
        let met = |row: &Row| match row.met {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "—",
        };
        let header = ["figure", "measured", "target", "met?"];
        let mut cells: Vec<[&str; 4]> = vec![header];
        cells.extend(
            self.rows
                .iter()
                .map(|row| [row.figure.as_str(), &row.measured, &row.target, met(row)]),
        );
        let widths: Vec<usize> = (0..4)
            .map(|col| cells.iter().map(|cell| cell[col].chars().count()).max().unwrap_or(0))
            .collect();
        let line = |cell: &[&str; 4]| {
            let padded: Vec<String> = cell
                .iter()
                .zip(&widths)
                .map(|(text, width)| format!("{text:<width$}"))
                .collect();
            format!("| {} |", padded.join(" | "))
        };
        let rule = format!(
            "|{}|",
            widths
                .iter()
                .map(|width| "-".repeat(width + 2))
                .collect::<Vec<_>>()
                .join("|")
        );
        let mut out = vec![line(&cells[0]), rule];
        out.extend(cells[1..].iter().map(line));
        out.join("\n")
    }

    /// Writes the report as JSON to `path`, creating its folder.
    pub fn write_json(&self, path: &Path) -> Result<()> {
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|row| json!({"figure": row.figure, "measured": row.measured, "target": row.target, "met": row.met}))
            .collect();
        let doc = json!({
            "generated_unix_ms": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0),
            "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "rows": rows,
            "notes": self.notes,
            "raw": self.raw,
        });
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(path, serde_json::to_string_pretty(&doc)?).with_context(|| format!("writing {}", path.display()))
    }
}

/// Bytes as decimal megabytes (1 MB = 1,000,000 bytes), the unit of the targets.
pub fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// A signed difference of byte counts in MB.
pub fn mb_delta(after: u64, before: u64) -> String {
    format!("{:+.1} MB", (after as f64 - before as f64) / 1e6)
}
