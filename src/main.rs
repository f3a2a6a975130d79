//! The `mailgate` binary: parse the command line and hand over to `mailgate::cli`.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = mailgate::cli::Cli::parse();
    // One thread is plenty for a command; `serve` builds its own multi-threaded runtime.
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("mailgate: cannot start the async runtime: {err}");
            return ExitCode::from(mailgate::cli::exit::TEMPFAIL);
        }
    };
    runtime.block_on(mailgate::cli::run(cli))
}
