//! Puts the board's memory map (no-std-tests' own) on the linker's search path as `memory.x`.

use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let map = match env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("riscv32") => "../memory-riscv.x",
        _ => "../memory-cortex-m.x",
    };
    fs::copy(map, out.join("memory.x")).expect("copy the memory map");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=../memory-cortex-m.x");
    println!("cargo:rerun-if-changed=../memory-riscv.x");
    println!("cargo:rerun-if-changed=build.rs");
}
