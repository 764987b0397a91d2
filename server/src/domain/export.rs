//! What an export is and how its file is written: the formats, the states an export
//! goes through, and the encoding of records (as their API JSON) into NDJSON lines or
//! CSV rows. No I/O: the worker hands pages of records in and gets bytes out.

use serde_json::Value;

/// The format of a file an export writes or an import reads: one schema for both.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    poem_openapi::Enum,
    serde::Serialize,
    serde::Deserialize,
)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    /// One JSON object per line, each exactly the record as the API returns it.
    #[default]
    Ndjson,
    /// A header row, then one row per record (RFC 4180 quoting).
    Csv,
}

impl FileFormat {
    pub const ALL: [Self; 2] = [Self::Ndjson, Self::Csv];

    /// The name the database stores.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ndjson => "ndjson",
            Self::Csv => "csv",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// The download's `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Ndjson => "application/x-ndjson",
            Self::Csv => "text/csv; charset=utf-8",
        }
    }

    pub fn extension(self) -> &'static str {
        self.as_str()
    }
}

/// Where an export is in its life.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, poem_openapi::Enum, serde::Serialize, serde::Deserialize,
)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum ExportStatus {
    /// Waiting for a worker.
    Queued,
    /// A worker is writing the file.
    Running,
    /// The file can be downloaded until `expires_at`.
    Completed,
    /// No file: `error` says why.
    Failed,
    /// The file was kept its time and is gone.
    Expired,
}

impl ExportStatus {
    pub const ALL: [Self; 5] = [
        Self::Queued,
        Self::Running,
        Self::Completed,
        Self::Failed,
        Self::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

/// Turns records (their API JSON objects) into the bytes of an export's file.
#[derive(Debug, Clone)]
pub enum Encoder {
    Ndjson,
    Csv(CsvLayout),
}

/// A CSV file's columns: the record's own fields in the API's order, then one
/// `custom_fields.<key>` column per custom field the record type defines, by key.
#[derive(Debug, Clone)]
pub struct CsvLayout {
    fields: Vec<&'static str>,
    custom_keys: Vec<String>,
}

impl CsvLayout {
    /// `fields` are the record's top-level fields to write (`custom_fields` is left out
    /// of them: its keys become columns of their own).
    pub fn new(fields: &[&'static str], mut custom_keys: Vec<String>) -> Self {
        custom_keys.sort();
        custom_keys.dedup();
        Self {
            fields: fields
                .iter()
                .copied()
                .filter(|f| *f != "custom_fields")
                .collect(),
            custom_keys,
        }
    }
}

impl Encoder {
    pub fn new(format: FileFormat, layout: CsvLayout) -> Self {
        match format {
            FileFormat::Ndjson => Self::Ndjson,
            FileFormat::Csv => Self::Csv(layout),
        }
    }

    /// What the file starts with: the CSV header row, nothing for NDJSON.
    pub fn header(&self) -> Result<Vec<u8>, EncodeError> {
        match self {
            Self::Ndjson => Ok(Vec::new()),
            Self::Csv(layout) => {
                let mut out = csv::Writer::from_writer(Vec::new());
                let custom = layout
                    .custom_keys
                    .iter()
                    .map(|k| format!("custom_fields.{k}"));
                let names: Vec<String> = layout
                    .fields
                    .iter()
                    .map(|f| (*f).to_owned())
                    .chain(custom)
                    .collect();
                out.write_record(&names)?;
                finish(out)
            }
        }
    }

    /// The bytes of `records`, one line or row each.
    pub fn encode(&self, records: &[Value]) -> Result<Vec<u8>, EncodeError> {
        match self {
            Self::Ndjson => {
                let mut out = Vec::with_capacity(records.len() * 512);
                for record in records {
                    serde_json::to_writer(&mut out, record)?;
                    out.push(b'\n');
                }
                Ok(out)
            }
            Self::Csv(layout) => {
                let mut out = csv::Writer::from_writer(Vec::with_capacity(records.len() * 256));
                let mut cells = Vec::with_capacity(layout.fields.len() + layout.custom_keys.len());
                for record in records {
                    cells.clear();
                    for field in &layout.fields {
                        cells.push(cell(record.get(field)));
                    }
                    let custom = record.get("custom_fields");
                    for key in &layout.custom_keys {
                        cells.push(cell(custom.and_then(|c| c.get(key))));
                    }
                    out.write_record(&cells)?;
                }
                finish(out)
            }
        }
    }
}

/// One CSV cell: text as it is, `null` or absent as empty, numbers and booleans as
/// JSON writes them, lists and objects (tags, a multi-select's options) as compact JSON
/// so that an import can read them back. Cells are not escaped for spreadsheets (a
/// leading `=` stays): the file holds the data exactly, and docs/api.md warns.
fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

fn finish(out: csv::Writer<Vec<u8>>) -> Result<Vec<u8>, EncodeError> {
    out.into_inner()
        .map_err(|e| EncodeError(e.error().to_string()))
}

/// A record that could not be encoded (never expected: records are JSON values
/// written to memory).
#[derive(Debug, thiserror::Error)]
#[error("cannot encode the export: {0}")]
pub struct EncodeError(String);

impl From<csv::Error> for EncodeError {
    fn from(e: csv::Error) -> Self {
        Self(e.to_string())
    }
}

impl From<serde_json::Error> for EncodeError {
    fn from(e: serde_json::Error) -> Self {
        Self(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(bytes: Vec<u8>) -> String {
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn ndjson_is_one_compact_object_per_line() {
        let records = [json!({"id": "a", "name": "x\ny"}), json!({"id": "b"})];
        let out = text(Encoder::Ndjson.encode(&records).unwrap());
        assert_eq!(out, "{\"id\":\"a\",\"name\":\"x\\ny\"}\n{\"id\":\"b\"}\n");
        assert!(Encoder::Ndjson.header().unwrap().is_empty());
    }

    #[test]
    fn csv_has_the_fields_then_the_custom_fields_by_key() {
        let layout = CsvLayout::new(
            &["id", "name", "custom_fields", "tags"],
            vec!["tier".into(), "seats".into()],
        );
        let csv = Encoder::new(FileFormat::Csv, layout);
        assert_eq!(
            text(csv.header().unwrap()),
            "id,name,tags,custom_fields.seats,custom_fields.tier\n"
        );
        let records = [
            json!({"id": "a", "name": "Ada, \"the\" first", "tags": ["x", "y"],
                   "custom_fields": {"tier": "gold", "seats": 12}}),
            json!({"id": "b", "name": null, "tags": [], "custom_fields": {}}),
            json!({"id": "c", "name": "=1+1\nline two"}),
        ];
        assert_eq!(
            text(csv.encode(&records).unwrap()),
            "a,\"Ada, \"\"the\"\" first\",\"[\"\"x\"\",\"\"y\"\"]\",12,gold\n\
             b,,[],,\n\
             c,\"=1+1\nline two\",,,\n"
        );
    }

    #[test]
    fn a_csv_row_reads_back_as_the_cells_written() {
        let layout = CsvLayout::new(&["id", "note"], vec!["k".into()]);
        let csv = Encoder::new(FileFormat::Csv, layout);
        let record = json!({"id": "a", "note": "quote \" comma , newline \r\n end",
                            "custom_fields": {"k": true}});
        let mut bytes = csv.header().unwrap();
        bytes.extend(csv.encode(std::slice::from_ref(&record)).unwrap());
        let mut reader = csv::Reader::from_reader(bytes.as_slice());
        let row = reader.records().next().unwrap().unwrap();
        assert_eq!(
            row.iter().collect::<Vec<_>>(),
            ["a", "quote \" comma , newline \r\n end", "true"]
        );
    }

    #[test]
    fn formats_and_statuses_round_trip_their_stored_names() {
        for f in FileFormat::ALL {
            assert_eq!(FileFormat::parse(f.as_str()), Some(f));
        }
        for s in ExportStatus::ALL {
            assert_eq!(ExportStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(FileFormat::parse("xlsx"), None);
    }
}
