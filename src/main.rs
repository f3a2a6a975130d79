//! The `mailgate` binary: parse the command line and hand over to `mailgate::cli`.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match mailgate::cli::Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version print and succeed; a misused command is sysexits' 64, not clap's 2.
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() { mailgate::cli::exit::USAGE } else { 0 });
        }
    };
    // One TLS provider for the whole process (lettre, later IMAP): ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // One thread is plenty for a one-shot command; the daemon gets a multi-threaded runtime.
    let builder = match cli.command {
        mailgate::cli::Command::Serve => tokio::runtime::Builder::new_multi_thread(),
        _ => tokio::runtime::Builder::new_current_thread(),
    };
    let runtime = match { builder }.enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("mailgate: cannot start the async runtime: {err}");
            return ExitCode::from(mailgate::cli::exit::TEMPFAIL);
        }
    };
    runtime.block_on(mailgate::cli::run(cli))
}
