//! Release builds of the `gatehouse` binary place the functions a request runs through next to
//! each other (`bench/hot-symbols.txt`, written by `bench/run --hot-symbols` from a profile).
//! Spread over 12 MB of code, they touched ~230 pages; packed, ~120, which the CPU's caches and
//! TLBs hold better: +1.5-2.7 % requests/s on G1 and G3, four alternating runs out of four
//! (bench/README.md). Symbols the list names but the build lacks are skipped.
//!
//! The list is handed to the linker only where it is known to be LLD (Rust's default linker for
//! `x86_64-unknown-linux-gnu` since 1.90, and GNU ld rejects the option): any linker setting in
//! the environment, another target or an older compiler builds without it, and so does
//! `GATEHOUSE_SYMBOL_ORDER=off`.

use std::env;
use std::path::Path;
use std::process::Command;

const ORDER: &str = "bench/hot-symbols.txt";

fn main() {
    println!("cargo:rerun-if-changed={ORDER}");
    println!("cargo:rerun-if-env-changed=GATEHOUSE_SYMBOL_ORDER");
    println!("cargo:rerun-if-env-changed=RUSTC_LINKER");
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER");
    let var = |k: &str| env::var(k).unwrap_or_default();
    let wanted = var("PROFILE") == "release"
        && var("TARGET") == "x86_64-unknown-linux-gnu"
        && var("GATEHOUSE_SYMBOL_ORDER") != "off"
        && var("RUSTC_LINKER").is_empty()
        && var("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER").is_empty()
        && !var("CARGO_ENCODED_RUSTFLAGS").contains("link")
        && lld_by_default();
    let order = Path::new(&var("CARGO_MANIFEST_DIR")).join(ORDER);
    if wanted && order.is_file() {
        let order = order.display();
        println!("cargo:rustc-link-arg-bin=gatehouse=-Wl,--symbol-ordering-file={order}");
        println!("cargo:rustc-link-arg-bin=gatehouse=-Wl,--no-warn-symbol-ordering");
    }
}

/// Whether the compiler links with its own LLD by default (1.90 and later).
fn lld_by_default() -> bool {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = Command::new(rustc).arg("-V").output() else {
        return false;
    };
    // "rustc 1.95.0 (59807616e 2026-04-14)"
    let version = String::from_utf8_lossy(&out.stdout);
    let mut parts = version
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (1, 90)
}
