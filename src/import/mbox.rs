//! mbox files (mboxo and mboxrd): one pass that notes where each message lies (offset, size, date),
//! then each message read back by its offset with one level of `>From ` quoting removed. Memory stays
//! bounded by one message, whatever the file's size; no message is parsed here beyond its header block.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use crate::parse::{self, Limits};

/// Where one message lies in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// The first byte after the `From ` line.
    pub offset: u64,
    /// Bytes in the file, quoting included, the separating blank line excluded.
    pub len: u64,
    /// Bytes once unquoted: what is ingested (and checked against the size limit).
    pub size: u64,
    /// The Date header, else the date of the `From ` line (ms since the epoch).
    pub date: Option<i64>,
}

/// Lines longer than this are read in pieces (a file without line ends must not fill memory).
const MAX_LINE: u64 = 64 * 1024;

/// Whether `file` starts like an mbox: its first line is a `From ` line.
pub fn looks_like_mbox(path: &Path) -> io::Result<bool> {
    let mut start = [0u8; 5];
    let mut file = File::open(path)?;
    let mut read = 0;
    while read < start.len() {
        match file.read(&mut start[read..])? {
            0 => break,
            n => read += n,
        }
    }
    Ok(&start[..read] == b"From ")
}

/// Every message of the mbox at `path`, in file order. A `From ` line starts a message only at the
/// start of the file or after a blank line (writers put one between messages; an unquoted `From `
/// inside a paragraph of a body then stays text).
pub fn scan(path: &Path, limits: &Limits) -> io::Result<Vec<Span>> {
    let mut reader = BufReader::with_capacity(256 * 1024, File::open(path)?);
    let head_cap = limits.max_header_bytes + 4;
    let mut spans = Vec::new();
    let mut current: Option<Pending> = None;
    let (mut pos, mut line) = (0u64, Vec::with_capacity(256));
    let (mut at_line_start, mut after_blank) = (true, true);
    loop {
        line.clear();
        let n = (&mut reader).take(MAX_LINE).read_until(b'\n', &mut line)? as u64;
        if n == 0 {
            break;
        }
        let starts_line = at_line_start;
        at_line_start = line.ends_with(b"\n");
        if starts_line && after_blank && line.starts_with(b"From ") {
            if let Some(done) = current.take() {
                spans.push(done.finish(limits));
            }
            current = Some(Pending::new(pos + n, envelope_date(&line)));
        } else if let Some(message) = current.as_mut() {
            let quoted = starts_line && is_quoted_from(&line);
            let content = if quoted { &line[1..] } else { &line[..] };
            if message.head.len() < head_cap {
                let room = head_cap - message.head.len();
                message.head.extend_from_slice(&content[..content.len().min(room)]);
            }
            message.len += n;
            message.size += content.len() as u64;
            message.trailing_blank = (starts_line && is_blank(&line)).then_some(n);
        }
        after_blank = starts_line && at_line_start && is_blank(&line);
        pos += n;
    }
    if let Some(done) = current {
        spans.push(done.finish(limits));
    }
    Ok(spans)
}

/// Reads the message at `span` back, unquoted.
pub fn read(file: &mut File, span: &Span) -> io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(span.offset))?;
    let mut quoted = Vec::with_capacity(usize::try_from(span.len).unwrap_or(0));
    file.take(span.len).read_to_end(&mut quoted)?;
    if (quoted.len() as u64) < span.len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the file is shorter than when it was read",
        ));
    }
    let mut raw = Vec::with_capacity(quoted.len());
    for line in quoted.split_inclusive(|&b| b == b'\n') {
        raw.extend_from_slice(if is_quoted_from(line) { &line[1..] } else { line });
    }
    Ok(raw)
}

/// A message being scanned.
struct Pending {
    offset: u64,
    len: u64,
    size: u64,
    head: Vec<u8>,
    envelope_date: Option<i64>,
    /// Length of the last line when it was blank: the separator before the next `From ` line.
    trailing_blank: Option<u64>,
}

impl Pending {
    fn new(offset: u64, envelope_date: Option<i64>) -> Pending {
        Pending { offset, len: 0, size: 0, head: Vec::new(), envelope_date, trailing_blank: None }
    }

    fn finish(self, limits: &Limits) -> Span {
        let separator = self.trailing_blank.unwrap_or(0);
        let date = parse::parse_header_block(&self.head, limits).ok().and_then(|email| email.date);
        Span {
            offset: self.offset,
            len: self.len - separator,
            size: self.size - separator,
            date: date.or(self.envelope_date),
        }
    }
}

/// `>From `, `>>From `, ...: a body line quoted by the writer (mboxo quotes `From `, mboxrd also
/// every already-quoted one; removing one `>` restores both).
fn is_quoted_from(line: &[u8]) -> bool {
    let depth = line.iter().take_while(|&&b| b == b'>').count();
    depth > 0 && line[depth..].starts_with(b"From ")
}

fn is_blank(line: &[u8]) -> bool {
    line == b"\n" || line == b"\r\n"
}

/// The date of a `From sender Sat Jan  3 01:05:34 1996` line (UTC, as mbox writers mean it).
fn envelope_date(line: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(line).ok()?;
    // `From`, the sender and the weekday are skipped (a wrong weekday must not lose the date).
    let words: Vec<&str> = text.split_whitespace().skip(3).take(4).collect();
    let date = chrono::NaiveDateTime::parse_from_str(&words.join(" "), "%b %d %H:%M:%S %Y").ok()?;
    Some(date.and_utc().timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans_of(text: &str) -> (tempfile::NamedTempFile, Vec<Span>) {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut file, text.as_bytes()).unwrap();
        let spans = scan(file.path(), &Limits::default()).unwrap();
        (file, spans)
    }

    fn messages(text: &str) -> Vec<String> {
        let (file, spans) = spans_of(text);
        let mut handle = File::open(file.path()).unwrap();
        spans.iter().map(|span| String::from_utf8(read(&mut handle, span).unwrap()).unwrap()).collect()
    }

    #[test]
    fn splits_on_from_lines_and_unquotes_one_level() {
        let mbox = "From a@x Sat Jan  3 01:05:34 1996\nSubject: one\n\nbody\n>From here\n>>From there\n\n\
                    From b@x Tue Jul 23 19:39:23 2002\nSubject: two\n\ntext\nFrom x\n";
        let got = messages(mbox);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0], "Subject: one\n\nbody\nFrom here\n>From there\n");
        assert_eq!(got[1], "Subject: two\n\ntext\nFrom x\n", "an unquoted From inside a paragraph stays");
    }

    #[test]
    fn sizes_and_dates_are_known_before_reading() {
        let mbox = "From a@x Sat Jan  3 01:05:34 1996\nSubject: one\n\n>From q\n\n\
                    From b@x Tue Jul 23 19:39:23 2002\nDate: Thu, 1 Jan 2015 00:00:01 +0000\n\nx\n";
        let (_file, spans) = spans_of(mbox);
        assert_eq!(spans[0].size, "Subject: one\n\nFrom q\n".len() as u64);
        assert_eq!(spans[0].len, spans[0].size + 1);
        assert_eq!(spans[0].date, Some(820_631_134_000), "the From line's date when there is no Date");
        assert_eq!(spans[1].date, Some(1_420_070_401_000), "the Date header first");
    }

    #[test]
    fn crlf_files_and_empty_files() {
        let got = messages(
            "From a@x Sat Jan  3 01:05:34 1996\r\nSubject: one\r\n\r\nbody\r\n\r\nFrom b@x\r\nX: y\r\n",
        );
        assert_eq!(got, vec!["Subject: one\r\n\r\nbody\r\n".to_string(), "X: y\r\n".to_string()]);
        assert!(messages("").is_empty());
    }

    #[test]
    fn a_line_without_end_is_read_in_pieces() {
        let long = "a".repeat(3 * MAX_LINE as usize);
        let got = messages(&format!("From a@x\nSubject: long\n\n{long}\nFrom b@x\n"));
        assert_eq!(got, vec![format!("Subject: long\n\n{long}\nFrom b@x\n")], "no blank line before it");
    }
}
