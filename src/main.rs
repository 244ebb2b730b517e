use std::process::ExitCode;

use clap::Parser;

// mimalloc: per-thread free lists without glibc's arena locks and chunk consolidation, which
// took ~12 % of the proxy's CPU under load (bench/README.md, Performance).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    gatehouse::cli::run(gatehouse::cli::Cli::parse())
}
