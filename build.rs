//! Links GCC's unwinder into our executables instead of loading `libgcc_s.so.1` at start.
//!
//! On `*-linux-gnu`, Rust's standard library asks the linker for `-lgcc_s` (its unwinder, for
//! panics and backtraces). Loading that library costs every process an extra object to map and
//! relocate, and its constructor (`__cpu_indicator_init`) runs 12 `CPUID` instructions, each a trap
//! to the hypervisor on a virtual machine (~10 us apiece on the benchmark machine). `mailgate
//! pipe` is one process per message, so that is paid per message: 0.17 ms of a 1.2 ms minimal
//! process, measured (ARCHITECTURE.md, "Static unwinder").
//!
//! The linker looks for `-lgcc_s` in our search directory before GCC's, so a `libgcc_s.a` there
//! that is GCC's static unwinder (`libgcc_eh.a`, the one `gcc -static-libgcc` and Rust's own
//! `crt-static` builds use) makes the unwinder part of the executable: the same code, linked
//! statically. Where it cannot be found (another toolchain), the build keeps the shared library
//! and says so.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=RUSTC_LINKER");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let static_crt = var("CARGO_CFG_TARGET_FEATURE").split(',').any(|f| f == "crt-static");
    if var("CARGO_CFG_TARGET_OS") != "linux" || var("CARGO_CFG_TARGET_ENV") != "gnu" || static_crt {
        return;
    }
    let linker = std::env::var("RUSTC_LINKER").unwrap_or_else(|_| "cc".to_owned());
    let Some(unwinder) = gcc_file(&linker, "libgcc_eh.a") else {
        println!(
            "cargo::warning=no libgcc_eh.a from `{linker} -print-file-name`: linking libgcc_s.so.1 as usual"
        );
        return;
    };
    println!("cargo::rerun-if-changed={}", unwinder.display());
    let dir = PathBuf::from(var("OUT_DIR")).join("static-unwinder");
    std::fs::create_dir_all(&dir).expect("create the unwinder's directory in OUT_DIR");
    std::fs::copy(&unwinder, dir.join("libgcc_s.a")).expect("copy libgcc_eh.a into OUT_DIR");
    println!("cargo::rustc-link-search=native={}", dir.display());
}

/// Where the C compiler driver `linker` keeps `name`, if it has it.
fn gcc_file(linker: &str, name: &str) -> Option<PathBuf> {
    let output = Command::new(linker).arg(format!("-print-file-name={name}")).output().ok()?;
    let path = PathBuf::from(String::from_utf8(output.stdout).ok()?.trim());
    // The driver prints the bare name back when it has no such file.
    (output.status.success() && path.is_absolute() && Path::new(&path).is_file()).then_some(path)
}
