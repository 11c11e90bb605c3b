//! `--output table|json|yaml`: JSON and YAML print the API's documents as they are (stable keys, for scripts);
//! a table prints chosen columns of a list, or `key: value` lines of one object.

use clap::ValueEnum;
use serde_json::Value;

use super::client::CliError;

/// How results are printed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Columns for lists, `key: value` lines for one object (for people).
    #[default]
    Table,
    /// The API's JSON document, pretty-printed.
    Json,
    /// The same document as YAML.
    Yaml,
}

/// Prints one object.
pub fn object(format: Format, value: &Value) -> Result<(), CliError> {
    match format {
        Format::Table => {
            let mut lines = Vec::new();
            flatten("", value, &mut lines);
            println!("{}", lines.join("\n"));
            Ok(())
        }
        other => document(other, value),
    }
}

/// Prints a list with the given columns (keys of each item; nested keys with `.`).
pub fn list(format: Format, items: &Value, columns: &[&str]) -> Result<(), CliError> {
    match format {
        Format::Table => {
            let rows: Vec<Vec<String>> = items
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .map(|item| columns.iter().map(|c| cell(lookup(item, c))).collect())
                        .collect()
                })
                .unwrap_or_default();
            let header: Vec<String> = columns.iter().map(|c| c.to_uppercase()).collect();
            let mut widths: Vec<usize> = header.iter().map(String::len).collect();
            for row in &rows {
                for (width, text) in widths.iter_mut().zip(row) {
                    *width = (*width).max(text.chars().count());
                }
            }
            let line = |row: &[String]| {
                row.iter()
                    .zip(&widths)
                    .map(|(text, width)| format!("{text:<width$}"))
                    .collect::<Vec<_>>()
                    .join("  ")
                    .trim_end()
                    .to_owned()
            };
            println!("{}", line(&header));
            for row in &rows {
                println!("{}", line(row));
            }
            Ok(())
        }
        other => document(other, items),
    }
}

fn document(format: Format, value: &Value) -> Result<(), CliError> {
    let text = match format {
        Format::Yaml => {
            serde_yaml_ng::to_string(value).map_err(|e| CliError::Other(e.to_string()))?
        }
        _ => serde_json::to_string_pretty(value).map_err(|e| CliError::Other(e.to_string()))?,
    };
    println!("{}", text.trim_end());
    Ok(())
}

fn lookup<'a>(item: &'a Value, column: &str) -> &'a Value {
    column.split('.').fold(item, |value, key| &value[key])
}

fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(text) => text.clone(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

fn flatten(prefix: &str, value: &Value, lines: &mut Vec<String>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, value) in map {
                let name = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&name, value, lines);
            }
        }
        Value::Array(items) if items.iter().any(|i| i.is_object()) => {
            for (index, item) in items.iter().enumerate() {
                flatten(&format!("{prefix}[{index}]"), item, lines);
            }
        }
        other => lines.push(format!("{prefix}: {}", cell(other))),
    }
}
