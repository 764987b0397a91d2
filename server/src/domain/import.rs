//! Parsing of bulk-import files (CSV and NDJSON) for the background import worker.
//!
//! The worker never holds a whole file: it reads a window of bytes from a stored
//! offset, parses the complete records in it, applies them in one transaction and
//! stores where the next window starts (byte offset and line number). After a
//! crash it resumes from that stored position. Everything here is therefore built
//! around one contract: **the rows (and line numbers) produced for a file are the
//! same however the file is cut into windows**, as long as the caller starts each
//! window at `consumed` of the previous one (carrying `window[consumed..]` over)
//! and sets `at_eof` only for the window that ends at the end of the file.
//!
//! To keep that contract, a record is accepted only once its `'\n'` is inside the
//! window (or the file has ended): a record cut by the window end, an open quote,
//! or a `'\r'` whose `'\n'` has not arrived yet is left for the next window. The
//! CSV reader is told that only `'\n'` ends a record; the `'\r'` of a CRLF line
//! is removed afterwards. (With the `csv` crate's default, a lone `'\r'` also ends
//! a record, so a window ending between `'\r'` and `'\n'` would look complete.)
//!
//! A problem with one record never stops the import: it becomes a [`RowError`]
//! for that row. Messages never quote cell values, because they are stored and
//! shown to users and imported files carry personal data.

use std::io::{self, Read};

use serde_json::{Map, Value};

/// The problem with one row of the file; stored and shown to the user (never cell values in messages!).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// CSV header name of the cell, when one cell is at fault.
    pub column: Option<String>,
    /// API field path, e.g. "email" or "custom_fields.plan".
    pub field: Option<String>,
    /// Stable snake_case code.
    pub code: &'static str,
    /// Human text; never contains a cell's value.
    pub message: String,
}

impl RowError {
    fn row(code: &'static str, message: String) -> Self {
        RowError {
            column: None,
            field: None,
            code,
            message,
        }
    }
}

/// One record of the file: the 1-based line it starts on, and its content or why it is unusable.
#[derive(Debug, Clone, PartialEq)]
pub struct Row<T> {
    pub line: u64,
    pub value: Result<T, RowError>,
}

/// What one window yielded.
#[derive(Debug, Clone, PartialEq)]
pub struct Split<T> {
    pub rows: Vec<Row<T>>,
    /// Bytes of the window fully used; the caller keeps `window[consumed..]` for the next window.
    pub consumed: usize,
    /// Lines those bytes span (count of `'\n'` in `window[..consumed]`); the next
    /// window's `first_line` is `first_line + lines`.
    pub lines: u64,
}

/// The header row of a CSV file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Trimmed column names.
    pub columns: Vec<String>,
    /// Offset of the first data byte, counted from the file's first byte (BOM included).
    pub end_byte: u64,
    /// `'\n'`s before `end_byte`; the first data record starts on line `1 + lines`.
    pub lines: u64,
}

/// Why a CSV file's header row is unusable; the whole import fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    /// No header row at all (empty file, or only BOM/blank lines).
    Empty,
    /// The header is not terminated within the bytes given, and the file goes on.
    TooLong,
    InvalidUtf8,
    /// The header could not be parsed; the text says why.
    Malformed(String),
    /// A blank header cell (0-based index).
    EmptyColumn(usize),
    /// The same (trimmed) name twice.
    DuplicateColumn(String),
}

impl HeaderError {
    pub fn code(&self) -> &'static str {
        match self {
            HeaderError::Empty => "empty_file",
            HeaderError::TooLong => "header_too_long",
            HeaderError::InvalidUtf8 => "invalid_utf8",
            HeaderError::Malformed(_) => "malformed_header",
            HeaderError::EmptyColumn(_) => "empty_column",
            HeaderError::DuplicateColumn(_) => "duplicate_column",
        }
    }

    pub fn message(&self) -> String {
        match self {
            HeaderError::Empty => "the file is empty: it has no header row".to_owned(),
            HeaderError::TooLong => {
                "the header row is too long, or the file has no line break after it".to_owned()
            }
            HeaderError::InvalidUtf8 => "the header row is not valid UTF-8 text".to_owned(),
            HeaderError::Malformed(why) => format!("the header row cannot be read: {why}"),
            HeaderError::EmptyColumn(index) => {
                format!("column {} of the header row has no name", index + 1)
            }
            HeaderError::DuplicateColumn(name) => {
                format!("the column \"{name}\" appears more than once in the header row")
            }
        }
    }
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Why: a record is only final if the csv reader ended it at a `'\n'`; one it
/// ended because the input ran out might continue in the next window. The reader
/// asks for more input exactly when it has not yet seen the end of the record,
/// so noting when that request hits the end of the window tells the two apart.
struct WindowReader<'a> {
    rest: &'a [u8],
    ran_out: bool,
}

impl Read for WindowReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.rest.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.ran_out = true;
        }
        Ok(n)
    }
}

/// Where one record lies in the window, as the csv reader delimited it.
struct Span {
    /// First byte of the record itself (blank lines the reader skipped excluded).
    start: usize,
    /// Just past its `'\n'`, or the window end.
    end: usize,
    /// Ended by a `'\n'` inside the window rather than by the window's end.
    terminated: bool,
}

impl Span {
    /// The record's bytes without the `'\n'` and a `'\r'` before it.
    fn content<'w>(&self, window: &'w [u8]) -> &'w [u8] {
        let bytes = &window[self.start..self.end];
        let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        bytes.strip_suffix(b"\r").unwrap_or(bytes)
    }

    /// Why: with only `'\n'` as terminator, the `'\r'` of CRLF ends up in the last
    /// field. It belongs to the line ending when the raw line ends in `'\r'` (a
    /// quoted `"x\r"` ends in a quote, so its `'\r'` is kept).
    fn has_cr(&self, window: &[u8]) -> bool {
        let bytes = &window[self.start..self.end];
        bytes.strip_suffix(b"\n").unwrap_or(bytes).ends_with(b"\r")
    }
}

enum Next {
    Record(Span),
    Failed {
        start: usize,
        end: usize,
        why: String,
    },
    Done,
}

struct Records<'a> {
    window: &'a [u8],
    reader: csv::Reader<WindowReader<'a>>,
    record: csv::ByteRecord,
}

impl<'a> Records<'a> {
    fn new(window: &'a [u8]) -> Self {
        let reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .terminator(csv::Terminator::Any(b'\n'))
            .from_reader(WindowReader {
                rest: window,
                ran_out: false,
            });
        Records {
            window,
            reader,
            record: csv::ByteRecord::new(),
        }
    }

    fn offset(&self) -> usize {
        usize::try_from(self.reader.position().byte())
            .map_or(self.window.len(), |b| b.min(self.window.len()))
    }

    fn next(&mut self) -> Next {
        let before = self.offset();
        let read = self.reader.read_byte_record(&mut self.record);
        let end = self.offset();
        match read {
            Ok(false) => Next::Done,
            Ok(true) => {
                // The reader silently skips empty lines before a record; the
                // record's line number must not include them.
                let skipped = self.window[before..end]
                    .iter()
                    .take_while(|&&b| b == b'\n')
                    .count();
                Next::Record(Span {
                    start: before + skipped,
                    end,
                    terminated: !self.reader.get_ref().ran_out,
                })
            }
            Err(e) => Next::Failed {
                start: before,
                end,
                why: e.to_string(),
            },
        }
    }

    fn ran_out(&self) -> bool {
        self.reader.get_ref().ran_out
    }

    /// The fields of the record just read, the line ending's `'\r'` removed.
    fn fields(&self, span: &Span) -> Vec<&[u8]> {
        let mut fields: Vec<&[u8]> = self.record.iter().collect();
        if span.has_cr(self.window) {
            if let Some(last) = fields.last_mut() {
                *last = last.strip_suffix(b"\r").unwrap_or(last);
            }
        }
        fields
    }
}

/// Why: the csv crate accepts a quote still open at the end of input as if it
/// were closed, which would silently swallow the rest of the file into one
/// cell. Appending a line break shows whether the record was really finished.
fn quote_left_open(record: &[u8]) -> bool {
    let mut probe = record.to_vec();
    probe.push(b'\n');
    let mut records = Records::new(&probe);
    match records.next() {
        Next::Record(span) => !span.terminated,
        Next::Failed { .. } | Next::Done => false,
    }
}

fn newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

/// Reads the header row from the first bytes of a CSV file (`at_eof`: `head` is the whole file).
pub fn read_header(head: &[u8], at_eof: bool) -> Result<Header, HeaderError> {
    let skip = if head.starts_with(BOM) { BOM.len() } else { 0 };
    let body = &head[skip..];
    let mut records = Records::new(body);
    loop {
        let span = match records.next() {
            Next::Done if at_eof => return Err(HeaderError::Empty),
            Next::Done => return Err(HeaderError::TooLong),
            Next::Failed { why, .. } => return Err(HeaderError::Malformed(why)),
            Next::Record(span) => span,
        };
        if !span.terminated && !at_eof {
            return Err(HeaderError::TooLong);
        }
        // Spreadsheet exports sometimes start with empty or space-only lines.
        if span.content(body).iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if !span.terminated && quote_left_open(&body[span.start..span.end]) {
            return Err(HeaderError::Malformed(
                "a quoted column name is not closed".to_owned(),
            ));
        }
        let mut columns: Vec<String> = Vec::new();
        for (index, cell) in records.fields(&span).into_iter().enumerate() {
            let name = std::str::from_utf8(cell)
                .map_err(|_| HeaderError::InvalidUtf8)?
                .trim();
            if name.is_empty() {
                return Err(HeaderError::EmptyColumn(index));
            }
            if columns.iter().any(|c| c == name) {
                return Err(HeaderError::DuplicateColumn(name.to_owned()));
            }
            columns.push(name.to_owned());
        }
        let end = skip + span.end;
        return Ok(Header {
            columns,
            end_byte: end as u64,
            lines: newlines(&head[..end]),
        });
    }
}

/// Parses the complete CSV records of a window that starts at a record boundary
/// (`fields`: number of header columns), `max_rows` at most (a chunk's worth: the
/// rest is left for the next window). Cells are returned untrimmed.
pub fn split_csv(
    window: &[u8],
    first_line: u64,
    at_eof: bool,
    fields: usize,
    max_rows: usize,
) -> Split<Vec<String>> {
    let mut records = Records::new(window);
    let mut rows = Vec::new();
    let mut consumed = 0;
    // Line number of byte `counted`, advanced incrementally to stay linear.
    let mut counted = 0;
    let mut line = first_line;
    let mut line_at = |offset: usize| {
        line += newlines(&window[counted..offset]);
        counted = offset;
        line
    };
    let mut full = false;
    while !full {
        match records.next() {
            Next::Done => break,
            Next::Record(span) => {
                if !span.terminated && !at_eof {
                    break;
                }
                consumed = span.end;
                if span.content(window).is_empty() {
                    continue;
                }
                let value = if !span.terminated && quote_left_open(&window[span.start..span.end]) {
                    Err(RowError::row(
                        "malformed_row",
                        "a quoted cell is not closed before the end of the file".to_owned(),
                    ))
                } else {
                    csv_cells(&records.fields(&span), fields)
                };
                rows.push(Row {
                    line: line_at(span.start),
                    value,
                });
                full = rows.len() >= max_rows;
            }
            // Unreachable with an in-memory, flexible byte reader; handled so
            // that a future csv version cannot stall or crash an import.
            Next::Failed { start, end, why } => {
                if records.ran_out() && !at_eof {
                    break;
                }
                rows.push(Row {
                    line: line_at(start),
                    value: Err(RowError::row("malformed_row", why)),
                });
                if end <= start {
                    break;
                }
                consumed = end;
                full = rows.len() >= max_rows;
            }
        }
    }
    if at_eof && !full {
        consumed = window.len();
    }
    Split {
        rows,
        consumed,
        lines: newlines(&window[..consumed]),
    }
}

fn csv_cells(cells: &[&[u8]], fields: usize) -> Result<Vec<String>, RowError> {
    if cells.len() != fields {
        return Err(RowError::row(
            "wrong_field_count",
            format!(
                "the row has {} fields; the header has {fields}",
                cells.len()
            ),
        ));
    }
    cells
        .iter()
        .enumerate()
        .map(|(index, cell)| {
            String::from_utf8(cell.to_vec()).map_err(|_| {
                RowError::row(
                    "invalid_utf8",
                    format!("cell {} of the row is not valid UTF-8 text", index + 1),
                )
            })
        })
        .collect()
}

/// Parses the complete lines of an NDJSON window that starts at a line boundary,
/// `max_rows` at most.
pub fn split_ndjson(
    window: &[u8],
    first_line: u64,
    at_eof: bool,
    max_rows: usize,
) -> Split<Map<String, Value>> {
    let mut rows = Vec::new();
    let mut consumed = 0;
    let mut line = first_line;
    while consumed < window.len() && rows.len() < max_rows {
        let rest = &window[consumed..];
        let (raw, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(nl) => (&rest[..nl], consumed + nl + 1),
            None if at_eof => (rest, window.len()),
            None => break,
        };
        let mut text = raw.strip_suffix(b"\r").unwrap_or(raw);
        // A BOM can only sit before the file's first byte, which is the only
        // place a window starts while on line 1.
        if consumed == 0 && first_line == 1 {
            text = text.strip_prefix(BOM).unwrap_or(text);
        }
        if !text.iter().all(u8::is_ascii_whitespace) {
            rows.push(Row {
                line,
                value: json_object(text),
            });
        }
        line += newlines(&window[consumed..next]);
        consumed = next;
    }
    Split {
        rows,
        consumed,
        lines: line - first_line,
    }
}

fn json_object(text: &[u8]) -> Result<Map<String, Value>, RowError> {
    let text = std::str::from_utf8(text).map_err(|_| {
        RowError::row(
            "invalid_utf8",
            "the line is not valid UTF-8 text".to_owned(),
        )
    })?;
    // serde_json's syntax errors name the problem and a column, never input text.
    let value: Value = serde_json::from_str(text)
        .map_err(|e| RowError::row("invalid_json", format!("the line is not valid JSON: {e}")))?;
    let kind = match value {
        Value::Object(object) => return Ok(object),
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
    };
    Err(RowError::row(
        "not_an_object",
        format!("the line is {kind}, not a JSON object"),
    ))
}

/// How a CSV cell is turned into a JSON value for its field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellKind {
    Text,
    Integer,
    Number,
    Boolean,
    List,
    Uuid,
}

/// Converts one cell; `Ok(None)` for a blank cell (an empty cell keeps the
/// current value). The error is a message that never contains the cell.
pub fn cell_value(kind: CellKind, cell: &str) -> Result<Option<Value>, String> {
    let trimmed = cell.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    match kind {
        CellKind::Text => Ok(Some(Value::String(cell.to_owned()))),
        CellKind::Integer => trimmed
            .parse::<i64>()
            .map(|n| Some(Value::from(n)))
            .map_err(|_| "must be a whole number".to_owned()),
        CellKind::Number => {
            // Whole numbers stay integers so they survive a round trip unchanged.
            if let Ok(n) = trimmed.parse::<i64>() {
                return Ok(Some(Value::from(n)));
            }
            trimmed
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(|n| Some(Value::Number(n)))
                .ok_or_else(|| "must be a number".to_owned())
        }
        CellKind::Boolean => match trimmed.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Ok(Some(Value::Bool(true))),
            "false" | "no" | "0" => Ok(Some(Value::Bool(false))),
            _ => Err("must be true or false".to_owned()),
        },
        CellKind::List => list_value(trimmed),
        CellKind::Uuid => uuid::Uuid::parse_str(trimmed)
            .map(|id| Some(Value::String(id.hyphenated().to_string())))
            .map_err(|_| "must be a UUID".to_owned()),
    }
}

fn list_value(trimmed: &str) -> Result<Option<Value>, String> {
    // Exports write lists as JSON arrays; people typing by hand use ';'.
    if trimmed.starts_with('[') {
        return serde_json::from_str::<Vec<String>>(trimmed)
            .map(|items| Some(Value::from(items)))
            .map_err(|_| "must be a JSON array of strings, or values separated by ';'".to_owned());
    }
    let items: Vec<Value> = trimmed
        .split(';')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(Value::from)
        .collect();
    Ok((!items.is_empty()).then_some(Value::Array(items)))
}

/// What to do with one CSV column: which API field it fills (`None`: ignored) and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub column: String,
    pub field: Option<String>,
    pub kind: CellKind,
}

const CUSTOM_FIELDS: &str = "custom_fields";

/// Builds the API object for one CSV row; `targets` is parallel to `cells`.
/// Reports every bad cell of the row at once, so the user can fix them in one go.
pub fn csv_object(
    targets: &[Target],
    cells: &[String],
) -> Result<Map<String, Value>, Vec<RowError>> {
    if targets.len() != cells.len() {
        return Err(vec![RowError::row(
            "wrong_field_count",
            format!(
                "the row has {} fields; the header has {}",
                cells.len(),
                targets.len()
            ),
        )]);
    }
    let mut object = Map::new();
    let mut custom = Map::new();
    let mut errors = Vec::new();
    for (target, cell) in targets.iter().zip(cells) {
        let Some(field) = &target.field else {
            continue;
        };
        match cell_value(target.kind, cell) {
            Ok(None) => {}
            Ok(Some(value)) => match field.strip_prefix("custom_fields.") {
                Some(key) if !key.is_empty() => {
                    custom.insert(key.to_owned(), value);
                }
                _ => {
                    object.insert(field.clone(), value);
                }
            },
            Err(message) => errors.push(RowError {
                column: Some(target.column.clone()),
                field: Some(field.clone()),
                code: "invalid",
                message,
            }),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if !custom.is_empty() {
        object.insert(CUSTOM_FIELDS.to_owned(), Value::Object(custom));
    }
    Ok(object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn strings(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|c| (*c).to_owned()).collect()
    }

    fn ok_rows<T: Clone>(split: &Split<T>) -> Vec<(u64, T)> {
        split
            .rows
            .iter()
            .map(|r| (r.line, r.value.clone().expect("row should parse")))
            .collect()
    }

    fn code<T>(row: &Row<T>) -> &'static str {
        match &row.value {
            Ok(_) => "ok",
            Err(e) => e.code,
        }
    }

    // ---------- header ----------

    #[test]
    fn a_bom_is_stripped_from_the_header_but_counted_in_end_byte() {
        let head = b"\xEF\xBB\xBFname,email\nAda,a@x\n";
        let header = read_header(head, true).unwrap();
        assert_eq!(header.columns, strings(&["name", "email"]));
        assert_eq!(header.end_byte, 3 + 11);
        assert_eq!(header.lines, 1);
    }

    #[test]
    fn a_crlf_header_ends_after_the_line_feed_and_cells_are_trimmed() {
        let head = b" name , email \r\nAda,a@x\r\n";
        let header = read_header(head, false).unwrap();
        assert_eq!(header.columns, strings(&["name", "email"]));
        assert_eq!(header.end_byte, 16);
        assert_eq!(&head[16..], b"Ada,a@x\r\n");
    }

    #[test]
    fn a_quoted_header_may_span_two_lines_and_contain_commas() {
        let head = b"\"first\nname\",\"a,b\",\"say \"\"hi\"\"\"\nx,y,z\n";
        let header = read_header(head, false).unwrap();
        assert_eq!(
            header.columns,
            strings(&["first\nname", "a,b", "say \"hi\""])
        );
        assert_eq!(header.lines, 2);
        assert_eq!(&head[header.end_byte as usize..], b"x,y,z\n");
    }

    #[test]
    fn blank_lines_before_the_header_are_skipped_and_counted() {
        let head = b"\n\r\n  \nname\nAda\n";
        let header = read_header(head, true).unwrap();
        assert_eq!(header.columns, strings(&["name"]));
        assert_eq!(header.lines, 4);
        assert_eq!(&head[header.end_byte as usize..], b"Ada\n");
    }

    #[test]
    fn a_column_named_twice_after_trimming_is_a_duplicate() {
        let err = read_header(b"email, email\n", true).unwrap_err();
        assert_eq!(err, HeaderError::DuplicateColumn("email".to_owned()));
        assert_eq!(err.code(), "duplicate_column");
    }

    #[test]
    fn a_blank_header_cell_is_an_empty_column() {
        let err = read_header(b"name, ,email\n", true).unwrap_err();
        assert_eq!(err, HeaderError::EmptyColumn(1));
        assert_eq!(err.code(), "empty_column");
        assert!(err.message().contains("column 2"));
    }

    #[test]
    fn an_empty_file_or_only_a_bom_and_blank_lines_has_no_header() {
        for head in [&b""[..], b"\xEF\xBB\xBF", b"\xEF\xBB\xBF\r\n\n  \n"] {
            assert_eq!(read_header(head, true), Err(HeaderError::Empty));
        }
        assert_eq!(HeaderError::Empty.code(), "empty_file");
    }

    #[test]
    fn a_header_not_terminated_within_head_is_too_long_unless_the_file_ends() {
        assert_eq!(read_header(b"name,ema", false), Err(HeaderError::TooLong));
        assert_eq!(
            read_header(b"\"name\nstill", false),
            Err(HeaderError::TooLong)
        );
        assert_eq!(
            read_header(b"name,email\r", false),
            Err(HeaderError::TooLong)
        );
        assert_eq!(read_header(b"\n\n", false), Err(HeaderError::TooLong));
        assert_eq!(HeaderError::TooLong.code(), "header_too_long");
    }

    #[test]
    fn a_header_only_file_without_a_newline_is_read_at_eof() {
        let header = read_header(b"name,email", true).unwrap();
        assert_eq!(header.columns, strings(&["name", "email"]));
        assert_eq!(header.end_byte, 10);
        assert_eq!(header.lines, 0);
        let header = read_header(b"name,email\r", true).unwrap();
        assert_eq!(header.columns, strings(&["name", "email"]));
        assert_eq!(header.end_byte, 11);
    }

    #[test]
    fn a_header_that_is_not_utf8_or_has_an_open_quote_is_rejected() {
        assert_eq!(
            read_header(b"na\xffme\n", true),
            Err(HeaderError::InvalidUtf8)
        );
        let err = read_header(b"name,\"email\n", true).unwrap_err();
        assert!(matches!(err, HeaderError::Malformed(_)));
        assert_eq!(err.code(), "malformed_header");
    }

    #[test]
    fn every_prefix_of_a_head_gives_too_long_or_the_same_header() {
        let head = b"\xEF\xBB\xBF\r\n\"a\r\nb\",c\r\n1,2\r\n";
        let full = read_header(head, false).unwrap();
        for k in 0..head.len() {
            match read_header(&head[..k], false) {
                Err(HeaderError::TooLong) => assert!(k < full.end_byte as usize),
                Ok(header) => assert_eq!(header, full),
                Err(other) => panic!("prefix {k}: {other:?}"),
            }
        }
    }

    // ---------- split_csv ----------

    #[test]
    fn quoted_cells_keep_commas_newlines_and_doubled_quotes() {
        let window = b"\"a,b\",\"line1\nline2\",\"say \"\"hi\"\"\"\n";
        let split = split_csv(window, 2, false, 3, usize::MAX);
        assert_eq!(
            ok_rows(&split),
            vec![(2, strings(&["a,b", "line1\nline2", "say \"hi\""]))]
        );
        assert_eq!(split.consumed, window.len());
        assert_eq!(split.lines, 2);
    }

    #[test]
    fn a_quoted_newline_shifts_the_line_numbers_of_later_rows() {
        let window = b"1,\"x\ny\nz\"\n2,b\n3,c\n";
        let split = split_csv(window, 5, true, 2, usize::MAX);
        let lines: Vec<u64> = split.rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![5, 8, 9]);
        assert_eq!(split.lines, 5);
    }

    #[test]
    fn blank_lines_yield_no_rows_but_are_counted() {
        let window = b"\n1,a\n\n\r\n2,b\n\n";
        let split = split_csv(window, 2, true, 2, usize::MAX);
        assert_eq!(
            ok_rows(&split),
            vec![(3, strings(&["1", "a"])), (6, strings(&["2", "b"]))]
        );
        assert_eq!(split.lines, 6);
        assert_eq!(split.consumed, window.len());
    }

    #[test]
    fn a_row_with_the_wrong_number_of_fields_is_a_row_error() {
        let split = split_csv(b"1,a,extra\n2,b\n", 2, true, 2, usize::MAX);
        let err = split.rows[0].value.clone().unwrap_err();
        assert_eq!(err.code, "wrong_field_count");
        assert_eq!(err.message, "the row has 3 fields; the header has 2");
        assert_eq!(code(&split.rows[1]), "ok");
    }

    #[test]
    fn a_cell_that_is_not_utf8_is_a_row_error_and_the_import_goes_on() {
        let split = split_csv(b"1,\xff\xfe\n2,b\n", 2, true, 2, usize::MAX);
        let err = split.rows[0].value.clone().unwrap_err();
        assert_eq!(err.code, "invalid_utf8");
        assert_eq!((err.column, err.field), (None, None));
        assert_eq!(split.rows[1].value, Ok(strings(&["2", "b"])));
    }

    #[test]
    fn a_last_record_without_newline_is_taken_only_at_eof() {
        let window = b"1,a\n2,b";
        let open = split_csv(window, 2, false, 2, usize::MAX);
        assert_eq!(ok_rows(&open), vec![(2, strings(&["1", "a"]))]);
        assert_eq!((open.consumed, open.lines), (4, 1));
        let last = split_csv(window, 2, true, 2, usize::MAX);
        assert_eq!(last.rows.len(), 2);
        assert_eq!(last.rows[1].value, Ok(strings(&["2", "b"])));
        assert_eq!((last.consumed, last.lines), (window.len(), 1));
    }

    #[test]
    fn crlf_lines_lose_the_carriage_return_but_quoted_ones_keep_it() {
        let window = b"1,a\r\n2,\"b\r\"\r\n3,\"c\"\r\n";
        let split = split_csv(window, 2, false, 2, usize::MAX);
        assert_eq!(
            ok_rows(&split),
            vec![
                (2, strings(&["1", "a"])),
                (3, strings(&["2", "b\r"])),
                (4, strings(&["3", "c"])),
            ]
        );
    }

    #[test]
    fn a_window_ending_between_cr_and_lf_leaves_the_record_for_later() {
        let split = split_csv(b"1,a\r\n2,b\r", 2, false, 2, usize::MAX);
        assert_eq!(ok_rows(&split), vec![(2, strings(&["1", "a"]))]);
        assert_eq!(split.consumed, 5);
    }

    #[test]
    fn an_open_quote_is_left_for_later_and_is_malformed_at_eof() {
        let window = b"1,a\n2,\"b\nc\n";
        let open = split_csv(window, 2, false, 2, usize::MAX);
        assert_eq!(open.rows.len(), 1);
        assert_eq!(open.consumed, 4);
        let last = split_csv(window, 2, true, 2, usize::MAX);
        assert_eq!(last.rows.len(), 2);
        assert_eq!(last.rows[1].line, 3);
        assert_eq!(code(&last.rows[1]), "malformed_row");
        assert_eq!(last.lines, 3);
    }

    // ---------- window independence ----------

    /// Feeds `body` in windows of `w` bytes, carrying the unconsumed rest over,
    /// as the worker does; returns the rows and the total lines.
    fn drive<T>(
        body: &[u8],
        w: usize,
        first_line: u64,
        split: impl Fn(&[u8], u64, bool) -> Split<T>,
    ) -> (Vec<Row<T>>, u64) {
        let mut rows = Vec::new();
        let mut carry: Vec<u8> = Vec::new();
        let mut pos = 0;
        let mut line = first_line;
        loop {
            let take = w.min(body.len() - pos);
            carry.extend_from_slice(&body[pos..pos + take]);
            pos += take;
            let at_eof = pos == body.len();
            let out = split(&carry, line, at_eof);
            assert_eq!(out.lines, newlines(&carry[..out.consumed]));
            rows.extend(out.rows);
            line += out.lines;
            carry.drain(..out.consumed);
            if at_eof {
                assert!(carry.is_empty(), "at eof everything is consumed");
                return (rows, line - first_line);
            }
        }
    }

    /// Resumes from a stored byte offset instead of carrying bytes over, as the
    /// worker does after a crash; grows the window when nothing fit.
    fn drive_from_offsets<T>(
        body: &[u8],
        w: usize,
        first_line: u64,
        split: impl Fn(&[u8], u64, bool) -> Split<T>,
    ) -> (Vec<Row<T>>, u64) {
        let mut rows = Vec::new();
        let (mut offset, mut line, mut size) = (0, first_line, w);
        loop {
            let end = (offset + size).min(body.len());
            let at_eof = end == body.len();
            let out = split(&body[offset..end], line, at_eof);
            rows.extend(out.rows);
            line += out.lines;
            offset += out.consumed;
            size = if out.consumed == 0 { size * 2 } else { w };
            // A chunk full of rows leaves the end of the file for the next one.
            if at_eof && offset == body.len() {
                return (rows, line - first_line);
            }
        }
    }

    const TRICKY_CSV: &[u8] = b"\xEF\xBB\xBFid,\"the\r\nnote\",tags\r\n\
        1,\"multi\nline, with comma\",a;b\r\n\
        \r\n\
        2,\"say \"\"hi\"\"\",\"\"\n\
        \n\
        3,\xff\xfe,x\n\
        4,too,many,cells\r\n\
        5,\"cr\r\nin quotes\",\"\"\"\"\r\n\
        \r\n\r\n\
        6,short\n\
        7,\"x\r\",last";

    #[test]
    fn csv_rows_are_the_same_however_the_file_is_cut_into_windows() {
        let header = read_header(TRICKY_CSV, true).unwrap();
        assert_eq!(header.columns, strings(&["id", "the\r\nnote", "tags"]));
        let body = &TRICKY_CSV[header.end_byte as usize..];
        let first_line = 1 + header.lines;
        let fields = header.columns.len();
        let parse = |w: &[u8], line: u64, eof: bool| split_csv(w, line, eof, fields, usize::MAX);

        let whole = parse(body, first_line, true);
        let summary: Vec<(u64, &str)> = whole.rows.iter().map(|r| (r.line, code(r))).collect();
        assert_eq!(
            summary,
            vec![
                (3, "ok"),
                (6, "ok"),
                (8, "invalid_utf8"),
                (9, "wrong_field_count"),
                (10, "ok"),
                (14, "wrong_field_count"),
                (15, "ok"),
            ]
        );
        assert_eq!(
            whole.rows[4].value,
            Ok(strings(&["5", "cr\r\nin quotes", "\""]))
        );
        assert_eq!(whole.rows[6].value, Ok(strings(&["7", "x\r", "last"])));
        assert_eq!(whole.consumed, body.len());
        let expected = (whole.rows, whole.lines);

        for k in 0..=body.len() {
            let first = parse(&body[..k], first_line, false);
            let mut rest = body[first.consumed..k].to_vec();
            rest.extend_from_slice(&body[k..]);
            let second = parse(&rest, first_line + first.lines, true);
            let mut rows = first.rows;
            rows.extend(second.rows);
            assert_eq!((rows, first.lines + second.lines), expected, "cut at {k}");
        }
        for w in 1..=body.len() {
            assert_eq!(drive(body, w, first_line, parse), expected, "window {w}");
            assert_eq!(
                drive_from_offsets(body, w, first_line, parse),
                expected,
                "window {w}"
            );
            // Chunks of a few rows, as the worker cuts them.
            for max in 1..=3 {
                let chunked = |w: &[u8], line: u64, eof: bool| split_csv(w, line, eof, fields, max);
                assert_eq!(
                    drive_from_offsets(body, w, first_line, chunked),
                    expected,
                    "window {w}, {max} rows"
                );
            }
        }
    }

    const TRICKY_NDJSON: &[u8] = b"\xEF\xBB\xBF{\"name\":\"Ada\",\"n\":\"a\\nb\"}\r\n\
        \r\n\
        {\"name\": \"Bob\"}\n\
        \x20\t\n\
        {\"name\": \xff}\n\
        [1,2]\r\n\
        {\"name\":\n\
        \n\
        {\"x\": {\"y\": [1, \"\\r\\n\"]}}\r\n\
        \"text\"\n\
        {\"last\": true}";

    #[test]
    fn ndjson_rows_are_the_same_however_the_file_is_cut_into_windows() {
        let body = TRICKY_NDJSON;
        let whole = split_ndjson(body, 1, true, usize::MAX);
        let summary: Vec<(u64, &str)> = whole.rows.iter().map(|r| (r.line, code(r))).collect();
        assert_eq!(
            summary,
            vec![
                (1, "ok"),
                (3, "ok"),
                (5, "invalid_utf8"),
                (6, "not_an_object"),
                (7, "invalid_json"),
                (9, "ok"),
                (10, "not_an_object"),
                (11, "ok"),
            ]
        );
        assert_eq!(whole.lines, 10);
        let expected = (whole.rows, whole.lines);

        for k in 0..=body.len() {
            let first = split_ndjson(&body[..k], 1, false, usize::MAX);
            let mut rest = body[first.consumed..k].to_vec();
            rest.extend_from_slice(&body[k..]);
            let second = split_ndjson(&rest, 1 + first.lines, true, usize::MAX);
            let mut rows = first.rows;
            rows.extend(second.rows);
            assert_eq!((rows, first.lines + second.lines), expected, "cut at {k}");
        }
        let all = |w: &[u8], line: u64, eof: bool| split_ndjson(w, line, eof, usize::MAX);
        for w in 1..=body.len() {
            assert_eq!(drive(body, w, 1, all), expected, "window {w}");
            assert_eq!(drive_from_offsets(body, w, 1, all), expected, "window {w}");
            for max in 1..=3 {
                let chunked = |w: &[u8], line: u64, eof: bool| split_ndjson(w, line, eof, max);
                assert_eq!(
                    drive_from_offsets(body, w, 1, chunked),
                    expected,
                    "window {w}, {max} rows"
                );
            }
        }
    }

    // ---------- split_ndjson ----------

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn ndjson_crlf_and_blank_lines_are_handled() {
        let split = split_ndjson(b"{\"a\":1}\r\n\r\n  \n{\"b\":2}\r\n", 4, false, usize::MAX);
        assert_eq!(
            ok_rows(&split),
            vec![(4, object(json!({"a": 1}))), (7, object(json!({"b": 2})))]
        );
        assert_eq!(split.lines, 4);
    }

    #[test]
    fn ndjson_lines_that_are_not_json_objects_are_row_errors() {
        let split = split_ndjson(
            b"{\"a\":\n[1]\n\"secret@x\"\n{\"a\":\xff}\n",
            1,
            true,
            usize::MAX,
        );
        let codes: Vec<&str> = split.rows.iter().map(code).collect();
        assert_eq!(
            codes,
            [
                "invalid_json",
                "not_an_object",
                "not_an_object",
                "invalid_utf8"
            ]
        );
        for row in &split.rows {
            let message = &row.value.as_ref().unwrap_err().message;
            assert!(!message.contains("secret"), "{message}");
        }
    }

    #[test]
    fn an_ndjson_last_line_without_newline_is_taken_only_at_eof() {
        let window = b"{\"a\":1}\n{\"b\":2}";
        let open = split_ndjson(window, 1, false, usize::MAX);
        assert_eq!(open.rows.len(), 1);
        assert_eq!((open.consumed, open.lines), (8, 1));
        let last = split_ndjson(window, 1, true, usize::MAX);
        assert_eq!(ok_rows(&last)[1], (2, object(json!({"b": 2}))));
        assert_eq!((last.consumed, last.lines), (window.len(), 1));
    }

    #[test]
    fn a_bom_is_skipped_only_at_the_start_of_the_file() {
        let at_start = split_ndjson(b"\xEF\xBB\xBF{\"a\":1}\n", 1, true, usize::MAX);
        assert_eq!(code(&at_start.rows[0]), "ok");
        let later = split_ndjson(b"\xEF\xBB\xBF{\"a\":1}\n", 2, true, usize::MAX);
        assert_eq!(code(&later.rows[0]), "invalid_json");
    }

    // ---------- cell_value ----------

    fn assert_rejected(kind: CellKind, cell: &str, message: &str) {
        let err = cell_value(kind, cell).unwrap_err();
        assert_eq!(err, message);
        assert!(!err.contains(cell.trim()), "message leaks the cell: {err}");
    }

    #[test]
    fn blank_cells_of_every_kind_keep_the_current_value() {
        use CellKind::*;
        for kind in [Text, Integer, Number, Boolean, List, Uuid] {
            assert_eq!(cell_value(kind, ""), Ok(None));
            assert_eq!(cell_value(kind, " \t "), Ok(None));
        }
    }

    #[test]
    fn text_is_kept_untrimmed() {
        assert_eq!(
            cell_value(CellKind::Text, " Ada "),
            Ok(Some(json!(" Ada ")))
        );
    }

    #[test]
    fn integers_are_whole_numbers() {
        assert_eq!(cell_value(CellKind::Integer, " 42 "), Ok(Some(json!(42))));
        assert_eq!(cell_value(CellKind::Integer, "-7"), Ok(Some(json!(-7))));
        assert_rejected(CellKind::Integer, "4.5", "must be a whole number");
        assert_rejected(CellKind::Integer, "lots", "must be a whole number");
    }

    #[test]
    fn numbers_are_finite() {
        assert_eq!(cell_value(CellKind::Number, " 2.5 "), Ok(Some(json!(2.5))));
        assert_eq!(cell_value(CellKind::Number, "3"), Ok(Some(json!(3))));
        assert_eq!(cell_value(CellKind::Number, "1e3"), Ok(Some(json!(1000.0))));
        assert_rejected(CellKind::Number, "NaN", "must be a number");
        assert_rejected(CellKind::Number, "inf", "must be a number");
        assert_rejected(CellKind::Number, "12abc", "must be a number");
    }

    #[test]
    fn booleans_accept_common_spellings() {
        for cell in ["true", " YES ", "1", "True"] {
            assert_eq!(cell_value(CellKind::Boolean, cell), Ok(Some(json!(true))));
        }
        for cell in ["false", "No", "0"] {
            assert_eq!(cell_value(CellKind::Boolean, cell), Ok(Some(json!(false))));
        }
        assert_rejected(CellKind::Boolean, "maybe", "must be true or false");
    }

    #[test]
    fn lists_are_json_arrays_or_separated_by_semicolons() {
        assert_eq!(
            cell_value(CellKind::List, "a; b ;;c"),
            Ok(Some(json!(["a", "b", "c"])))
        );
        assert_eq!(
            cell_value(CellKind::List, "[\"a;b\", \" c\"]"),
            Ok(Some(json!(["a;b", " c"])))
        );
        assert_eq!(cell_value(CellKind::List, " [] "), Ok(Some(json!([]))));
        assert_eq!(cell_value(CellKind::List, " ; ;"), Ok(None));
        let message = "must be a JSON array of strings, or values separated by ';'";
        assert_rejected(CellKind::List, "[1, 2]", message);
        assert_rejected(CellKind::List, "[\"open", message);
    }

    #[test]
    fn uuids_are_normalised_to_lowercase_hyphenated() {
        let id = "67E55044-10B1-426F-9247-BB680E5FE0C8";
        assert_eq!(
            cell_value(CellKind::Uuid, &format!(" {id} ")),
            Ok(Some(json!("67e55044-10b1-426f-9247-bb680e5fe0c8")))
        );
        assert_eq!(
            cell_value(CellKind::Uuid, "67e5504410b1426f9247bb680e5fe0c8"),
            Ok(Some(json!("67e55044-10b1-426f-9247-bb680e5fe0c8")))
        );
        assert_rejected(CellKind::Uuid, "not-a-uuid", "must be a UUID");
    }

    // ---------- csv_object ----------

    fn target(column: &str, field: Option<&str>, kind: CellKind) -> Target {
        Target {
            column: column.to_owned(),
            field: field.map(str::to_owned),
            kind,
        }
    }

    #[test]
    fn custom_fields_are_nested_and_ignored_columns_are_skipped() {
        let targets = [
            target("Name", Some("name"), CellKind::Text),
            target("Notes", None, CellKind::Text),
            target("Plan", Some("custom_fields.plan"), CellKind::Text),
            target("Seats", Some("custom_fields.seats"), CellKind::Integer),
        ];
        let object = csv_object(&targets, &strings(&["Ada", "ignored", "pro", "5"])).unwrap();
        assert_eq!(
            Value::Object(object),
            json!({"name": "Ada", "custom_fields": {"plan": "pro", "seats": 5}})
        );
    }

    #[test]
    fn empty_cells_are_absent_and_custom_fields_appear_only_with_a_value() {
        let targets = [
            target("Name", Some("name"), CellKind::Text),
            target("Email", Some("email"), CellKind::Text),
            target("Plan", Some("custom_fields.plan"), CellKind::Text),
        ];
        let object = csv_object(&targets, &strings(&["Ada", " ", ""])).unwrap();
        assert_eq!(Value::Object(object), json!({"name": "Ada"}));
    }

    #[test]
    fn every_bad_cell_of_a_row_is_reported() {
        let targets = [
            target("Seats", Some("custom_fields.seats"), CellKind::Integer),
            target("Active", Some("active"), CellKind::Boolean),
            target("Name", Some("name"), CellKind::Text),
        ];
        let errors = csv_object(&targets, &strings(&["many", "perhaps", "Ada"])).unwrap_err();
        assert_eq!(
            errors,
            vec![
                RowError {
                    column: Some("Seats".to_owned()),
                    field: Some("custom_fields.seats".to_owned()),
                    code: "invalid",
                    message: "must be a whole number".to_owned(),
                },
                RowError {
                    column: Some("Active".to_owned()),
                    field: Some("active".to_owned()),
                    code: "invalid",
                    message: "must be true or false".to_owned(),
                },
            ]
        );
    }

    #[test]
    fn cells_not_matching_the_targets_are_a_wrong_field_count() {
        let targets = [target("Name", Some("name"), CellKind::Text)];
        let errors = csv_object(&targets, &strings(&["a", "b"])).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].code, "wrong_field_count");
    }
}
