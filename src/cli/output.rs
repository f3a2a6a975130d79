//! Standard output of every command. Text from mail (subjects, names, bodies, reasons, traces)
//! reaches the admin's terminal, so terminal control characters are replaced before anything is
//! written: an inbound subject cannot clear the screen or set the terminal's title. A closed pipe
//! (`mailgate ticket list | head -1`) ends the command quietly, as a Unix filter does, instead of
//! panicking. Inside `cli`, `println!` and `print!` are this module's (see `cli/mod.rs`).

use std::borrow::Cow;
use std::fmt;
use std::io::{IsTerminal, Write};

use super::exit;

/// What stands in for a control character that is not written as it is.
const REPLACEMENT: char = '\u{FFFD}';

/// Writes `args` to standard output with control characters replaced. When the reader has gone
/// away (a closed pipe) the process ends at once with exit 0: everything the command did is done,
/// nobody is left to read the rest. Any other write error ends it with 74 (EX_IOERR).
pub fn write_stdout(args: fmt::Arguments<'_>) {
    let text = args.to_string();
    let shown = without_control_characters(&text);
    if let Err(error) = std::io::stdout().lock().write_all(shown.as_bytes()) {
        exit_on_write_error(&error);
    }
}

/// Writes raw bytes (`quarantine show --raw`: the message as stored, for saving to a file). On a
/// terminal they are shown like any other text, control characters replaced.
pub fn write_stdout_raw(bytes: &[u8]) {
    if std::io::stdout().is_terminal() {
        return write_stdout(format_args!("{}", String::from_utf8_lossy(bytes)));
    }
    let mut stdout = std::io::stdout().lock();
    if let Err(error) = stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        exit_on_write_error(&error);
    }
}

/// `text` as safe to show on a terminal: line feeds and tabs stay, a carriage return before a
/// line feed is dropped (CRLF line ends), every other control character (C0, DEL, C1 — among
/// them ESC and CSI, which start terminal escape sequences) becomes U+FFFD.
pub fn without_control_characters(text: &str) -> Cow<'_, str> {
    let safe = |c: char| !c.is_control() || c == '\n' || c == '\t';
    if text.chars().all(safe) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if safe(c) {
            shown.push(c);
        } else if !(c == '\r' && chars.peek() == Some(&'\n')) {
            shown.push(REPLACEMENT);
        }
    }
    Cow::Owned(shown)
}

/// True when `error` (or what caused it) is a write to a closed pipe.
pub fn is_closed_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn exit_on_write_error(error: &std::io::Error) -> ! {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(exit::OK.into());
    }
    eprintln!("mailgate: cannot write to standard output: {error}");
    std::process::exit(exit::IOERR.into());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_lose_their_escape() {
        // Clear screen, set the window title (OSC ... BEL), and an 8-bit CSI.
        let subject = "Hi\u{1b}[2J\u{1b}]0;owned\u{7} there\u{9b}31m";
        assert_eq!(
            without_control_characters(subject),
            "Hi\u{FFFD}[2J\u{FFFD}]0;owned\u{FFFD} there\u{FFFD}31m"
        );
    }

    #[test]
    fn lines_tabs_and_ordinary_text_are_kept() {
        assert!(matches!(without_control_characters("a\tb\nc ü 日本"), Cow::Borrowed(_)));
        assert_eq!(without_control_characters("one\r\ntwo\rthree\u{8}"), "one\ntwo\u{FFFD}three\u{FFFD}");
    }
}
