//! An ordinary Rust program for WASI (std only), run unmodified by the executor's tests: reads
//! an input file, writes an output file into a new folder, lists that folder, prints a summary.
//!
//!   files IN OUT   e.g. files /in/data.txt /out/rust/report.txt
//!
//! Build (Debian 12: apt-get install rustc libstd-rust-dev-wasm32, Rust 1.63):
//!   rustc --target wasm32-wasi -C opt-level=2 -C debuginfo=0 files.rs -o files.wasm
use std::fs;
use std::io::Write;
use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: files IN OUT");
        std::process::exit(2);
    }
    let input = fs::read_to_string(&args[1]).unwrap_or_else(|e| {
        eprintln!("read {}: {}", args[1], e);
        std::process::exit(3)
    });
    let words: Vec<&str> = input.split_whitespace().collect();
    let mut sorted = words.clone();
    sorted.sort();
    let out = Path::new(&args[2]);
    if let Some(dir) = out.parent() {
        fs::create_dir_all(dir).expect("create the output folder");
    }
    let mut f = fs::File::create(out).expect("create the output file");
    writeln!(f, "{} words, sorted:", words.len()).unwrap();
    for w in &sorted {
        writeln!(f, "{}", w).unwrap();
    }
    drop(f);
    // Writing under /in is refused.
    match fs::write(&args[1], b"x") {
        Ok(_) => eprintln!("write {}: allowed", args[1]),
        Err(e) => eprintln!("write {}: {}", args[1], e),
    }
    let mut names: Vec<String> = fs::read_dir(out.parent().unwrap()).expect("list the output folder")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let size = fs::metadata(out).expect("stat the output file").len();
    println!("{}: {} words; wrote {} bytes to {}; folder holds {:?}", args[1], words.len(), size, args[2], names);
}
