//! CSV records for batch input, read with `csv-core` so that a quote left open cannot go
//! unnoticed.
//!
//! CSV readers (the `csv` crate, Python's `csv`) read a field whose opening quote is never
//! closed on to the end of the input: every row after it becomes part of one text, scored
//! as one row or, when long, reported as one over-long row, and all of it is held in
//! memory. Here a record whose quote is still open at the end of the input becomes an error
//! row for the line it starts on, and reading starts again on the next line, so the rows
//! after it are read as rows. No record is held beyond a size limit, so memory stays
//! bounded; a record over the limit is an error row too.
//!
//! A stray quote that a later quote closes (one text swallowing the lines up to it) looks
//! exactly like a quoted field that spans several lines, which is valid CSV, and is read as
//! one.

use std::io::BufRead;

use csv_core::{ReadRecordResult, Reader, ReaderBuilder};

/// Fed after the last byte of input: its line break ends any record in progress, unless
/// that record is inside an open quote, and then the whole sentinel lands inside the field
/// and only the end of input ends the record. That difference is the only outside sign of
/// the parser's quote state, which `csv-core` keeps to itself.
const SENTINEL: &[u8] = b"\n\0\n";

/// One record's fields, as bytes (checked for UTF-8 when a column is taken).
#[derive(Debug)]
pub struct Fields {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Fields {
    /// Field `i` as text; `None` when the record has fewer fields, `Err` when not UTF-8.
    pub fn get(&self, i: usize) -> Option<std::result::Result<&str, std::str::Utf8Error>> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        Some(std::str::from_utf8(&self.bytes[start..end]))
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }
}

/// Reads records from `input`: `(line the record starts on, fields or why it is an error)`.
pub struct Records<R> {
    input: R,
    parser: Reader,
    /// Longest record kept, in bytes (raw and parsed each).
    max_bytes: usize,
    /// Input to parse again after a record with an open quote, before reading on.
    replay: Vec<u8>,
    replayed: usize,
    /// Raw bytes of the record in progress, kept (up to `max_bytes`) to read again from its
    /// second line when its quote turns out never to close.
    raw: Vec<u8>,
    raw_cut: bool,
    /// Parser output of the record in progress; `out_cut` once it outgrew `max_bytes` and
    /// is being skipped to its end.
    out: Fields,
    out_len: usize,
    ends_len: usize,
    out_cut: bool,
    /// The parser's line (1-based) where the record in progress began.
    start_line: u64,
    /// How much of [`SENTINEL`] has been fed (after the input ran out).
    sentinel: usize,
    /// The last byte of input, and the number of the input's last line (known once the
    /// input has run out).
    last_byte: u8,
    last_line: usize,
    input_done: bool,
    done: bool,
}

impl<R: BufRead> Records<R> {
    /// Records of fields separated by `delimiter`.
    pub fn new(input: R, max_bytes: usize, delimiter: u8) -> Self {
        Records {
            input,
            parser: ReaderBuilder::new().delimiter(delimiter).build(),
            max_bytes,
            replay: Vec::new(),
            replayed: 0,
            raw: Vec::new(),
            raw_cut: false,
            out: Fields { bytes: vec![0; max_bytes.clamp(1, 4096)], ends: vec![0; 64] },
            out_len: 0,
            ends_len: 0,
            out_cut: false,
            start_line: 1,
            sentinel: 0,
            last_byte: b'\n',
            last_line: 0,
            input_done: false,
            done: false,
        }
    }

    /// Line of the record just finished: where its first byte is, past any blank lines the
    /// parser skipped before it.
    fn record_line(&self) -> usize {
        let blank = self.raw.iter().take_while(|&&b| b == b'\n' || b == b'\r').filter(|&&b| b == b'\n').count();
        self.start_line as usize + blank
    }

    /// Starts the next record.
    fn begin(&mut self) {
        self.raw.clear();
        self.raw_cut = false;
        self.out_len = 0;
        self.ends_len = 0;
        self.out_cut = false;
        self.start_line = self.parser.line();
    }

    /// The next record, or `None` at the end of the input.
    pub fn read(&mut self) -> std::io::Result<Option<(usize, std::result::Result<Fields, String>)>> {
        loop {
            if self.done {
                return Ok(None);
            }
            // Input: what is left to replay, then the reader, then the sentinel, then nothing
            // (which tells the parser the input has ended).
            let (res, nin, nout, nend, at_end) = {
                let input: &[u8] = if self.replayed < self.replay.len() {
                    &self.replay[self.replayed..]
                } else if !self.input_done {
                    let buf = self.input.fill_buf()?;
                    if buf.is_empty() {
                        self.input_done = true;
                        continue;
                    }
                    buf
                } else {
                    if self.sentinel == 0 {
                        self.last_line = self.parser.line() as usize - usize::from(self.last_byte == b'\n');
                    }
                    &SENTINEL[self.sentinel..]
                };
                let (res, nin, nout, nend) = self.parser.read_record(
                    input,
                    &mut self.out.bytes[self.out_len..],
                    &mut self.out.ends[self.ends_len..],
                );
                if nin > 0 && !self.input_done {
                    self.last_byte = input[nin - 1];
                }
                if self.raw_cut || self.raw.len() + nin > self.max_bytes {
                    self.raw_cut = true;
                } else {
                    self.raw.extend_from_slice(&input[..nin]);
                }
                (res, nin, nout, nend, input.is_empty())
            };
            if self.replayed < self.replay.len() {
                self.replayed += nin;
            } else if !self.input_done {
                self.input.consume(nin);
            } else {
                self.sentinel += nin;
            }
            self.out_len += nout;
            self.ends_len += nend;
            match res {
                ReadRecordResult::InputEmpty => {}
                ReadRecordResult::OutputFull | ReadRecordResult::OutputEndsFull => {
                    let full = if res == ReadRecordResult::OutputFull {
                        self.out.bytes.len() >= self.max_bytes
                    } else {
                        self.out.ends.len() * std::mem::size_of::<usize>() >= self.max_bytes
                    };
                    if self.out_cut || full {
                        // Over the limit: parse on to the record's end, keeping nothing.
                        self.out_cut = true;
                        self.out_len = 0;
                        self.ends_len = 0;
                    } else if res == ReadRecordResult::OutputFull {
                        let n = (self.out.bytes.len() * 2).min(self.max_bytes);
                        self.out.bytes.resize(n, 0);
                    } else {
                        let n = self.out.ends.len() * 2;
                        self.out.ends.resize(n, 0);
                    }
                }
                ReadRecordResult::End => {
                    self.done = true;
                }
                ReadRecordResult::Record => {
                    let line = self.record_line();
                    if self.sentinel == SENTINEL.len() && !at_end {
                        // The sentinel's own record ("\0"): the input ended cleanly.
                        self.begin();
                        continue;
                    }
                    if at_end {
                        let err = self.open_quote(line);
                        return Ok(Some((line, Err(err))));
                    }
                    let rec = if self.out_cut {
                        Err(format!(
                            "the record is longer than {} bytes (12 bytes for each character of the \
                             text length limit, plus 1 MiB for the other columns)",
                            self.max_bytes
                        ))
                    } else {
                        Ok(Fields {
                            bytes: self.out.bytes[..self.out_len].to_vec(),
                            ends: self.out.ends[..self.ends_len].to_vec(),
                        })
                    };
                    self.begin();
                    return Ok(Some((line, rec)));
                }
            }
        }
    }

    /// The record starting on `line` was still inside a quote when the input ended. Reads
    /// again from the line after it when its bytes were kept, and says what was lost.
    fn open_quote(&mut self, line: usize) -> String {
        let raw = std::mem::take(&mut self.raw);
        let message = if self.raw_cut {
            // Nothing kept to read again, and all input consumed.
            self.done = true;
            format!(
                "a quote opened on this line is never closed; lines {line} to {} (more than {} bytes) \
                 could not be read as rows",
                self.last_line, self.max_bytes
            )
        } else {
            // The record's bytes (the sentinel off the end), past its blank lines and then past
            // its first line break: the lines the open quote swallowed.
            let body = &raw[..raw.len().saturating_sub(SENTINEL.len())];
            let body = &body[body.iter().position(|&b| b != b'\n' && b != b'\r').unwrap_or(body.len())..];
            match body.iter().position(|&b| b == b'\n') {
                Some(i) if i + 1 < body.len() => {
                    // All input is consumed by now (only the end of input shows an open
                    // quote), so the swallowed lines are all that is left to read.
                    self.replay = body[i + 1..].to_vec();
                    self.replayed = 0;
                    self.sentinel = 0;
                    self.parser.reset();
                    self.parser.set_line(line as u64 + 1);
                    format!(
                        "a quote opened on this line is never closed, so the line was skipped and \
                         reading went on from line {}",
                        line + 1
                    )
                }
                _ => "a quote opened on this line (the last) is never closed".to_string(),
            }
        };
        self.begin();
        message
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(data: &str, max_bytes: usize) -> Vec<(usize, std::result::Result<Vec<String>, String>)> {
        let mut r = Records::new(data.as_bytes(), max_bytes, b',');
        let mut out = Vec::new();
        while let Some((line, rec)) = r.read().unwrap() {
            let rec = rec.map(|f| (0..f.len()).map(|i| f.get(i).unwrap().unwrap().to_string()).collect());
            out.push((line, rec));
            assert!(out.len() < 100, "runaway reader");
        }
        out
    }

    fn ok(line: usize, fields: &[&str]) -> (usize, std::result::Result<Vec<String>, String>) {
        (line, Ok(fields.iter().map(|s| s.to_string()).collect()))
    }

    #[test]
    fn reads_quoted_fields_blank_lines_crlf_and_a_bom() {
        let data = "id,text\n1,hello\n\n2,\"quoted, with comma\"\r\n3,\"multi\nline \"\"q\"\"\"\n4,last";
        assert_eq!(
            read_all(data, 1 << 20),
            vec![
                ok(1, &["id", "text"]),
                ok(2, &["1", "hello"]),
                ok(4, &["2", "quoted, with comma"]),
                ok(5, &["3", "multi\nline \"q\""]),
                ok(7, &["4", "last"]),
            ]
        );
        assert_eq!(read_all("", 1 << 20), vec![]);
        assert_eq!(read_all("\u{feff}id,text\n", 1 << 20), vec![ok(1, &["id", "text"])]);
        // A NUL in the data is data, even at the very end.
        assert_eq!(read_all("a\n\0\n", 1 << 20), vec![ok(1, &["a"]), ok(2, &["\0"])]);
    }

    #[test]
    fn an_open_quote_costs_its_line_not_the_rest_of_the_input() {
        for end in ["\n", ""] {
            let data = format!("id,text\n1,ok\n2,\"never closed\n3,after\n4,more{end}");
            let got = read_all(&data, 1 << 20);
            assert_eq!(got.len(), 5, "{got:?}");
            assert_eq!(got[..2], [ok(1, &["id", "text"]), ok(2, &["1", "ok"])]);
            assert_eq!(got[2].0, 3);
            let err = got[2].1.as_ref().unwrap_err();
            assert!(err.contains("never closed") && err.contains("line 4"), "{err}");
            assert_eq!(got[3..], [ok(4, &["3", "after"]), ok(5, &["4", "more"])]);
        }
        // Escaped quotes after an open one leave it open; and one on the last line.
        let got = read_all("1,\"open\n2,say \"\"hi\"\"\n3,z", 1 << 20);
        assert!(got[0].1.is_err(), "{got:?}");
        assert_eq!(got[1..], [ok(2, &["2", "say \"\"hi\"\""]), ok(3, &["3", "z"])]);
        let got = read_all("a\nb\n\"c", 1 << 20);
        assert_eq!(got[..2], [ok(1, &["a"]), ok(2, &["b"])]);
        assert_eq!(got[2], (3, Err("a quote opened on this line (the last) is never closed".into())));
        // A later quote closes a stray one: valid CSV with a field over three lines.
        let got = read_all("1,\"stray\n2,x\n3,\"q\"\n4,y\n", 1 << 20);
        assert_eq!(got, [ok(1, &["1", "stray\n2,x\n3,q\""]), ok(4, &["4", "y"])]);
    }

    #[test]
    fn records_over_the_limit_are_errors_and_memory_stays_bounded() {
        let long = "x".repeat(50_000);
        let data = format!("1,short\n2,\"{long}\"\n3,after\n");
        let got = read_all(&data, 1000);
        assert_eq!(got[0], ok(1, &["1", "short"]));
        assert!(got[1].1.as_ref().unwrap_err().contains("longer than 1000 bytes"), "{got:?}");
        assert_eq!(got[2], ok(3, &["3", "after"]));
        assert_eq!(got.len(), 3);
        // An open quote over the limit cannot be read again: the lines are named instead.
        let data = format!("1,short\n2,\"{long}\n3,after\n4,more\n");
        let got = read_all(&data, 1000);
        assert_eq!(got.len(), 2, "{got:?}");
        let err = got[1].1.as_ref().unwrap_err();
        assert!(err.contains("lines 2 to 4"), "{err}");
        let mut r = Records::new(data.as_bytes(), 1000, b',');
        while r.read().unwrap().is_some() {}
        assert!(r.raw.capacity() <= 4000 && r.out.bytes.capacity() <= 4000);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// Any records, written as CSV writers quote them, comma- or tab-separated, read back
        /// as they were, wherever the reader's buffer boundaries fall.
        #[test]
        fn written_records_read_back(
            records in proptest::collection::vec(
                proptest::collection::vec("[a-z ,\t\"\n\r\u{e9}]{0,12}", 1..5), 1..12),
            buf in 1usize..64,
            crlf in proptest::bool::ANY,
            tabs in proptest::bool::ANY,
        ) {
            let delimiter = if tabs { '\t' } else { ',' };
            let quote = |f: &String| {
                if f.is_empty() || f.contains([delimiter, '"', '\n', '\r']) {
                    format!("\"{}\"", f.replace('"', "\"\""))
                } else {
                    f.clone()
                }
            };
            let end = if crlf { "\r\n" } else { "\n" };
            let data: String = records
                .iter()
                .map(|r| r.iter().map(quote).collect::<Vec<_>>().join(&delimiter.to_string()) + end)
                .collect();
            let input = std::io::BufReader::with_capacity(buf, data.as_bytes());
            let mut reader = Records::new(input, 1 << 20, delimiter as u8);
            let mut got = Vec::new();
            while let Some((_, rec)) = reader.read().unwrap() {
                let f = rec.unwrap();
                got.push((0..f.len()).map(|i| f.get(i).unwrap().unwrap().to_string()).collect::<Vec<_>>());
            }
            proptest::prop_assert_eq!(got, records);
        }
    }
}
