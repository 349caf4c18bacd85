//! The `nono` binary: parse flags, build a plan, call the libraries, print.

fn main() {
    eprintln!("nono: the command line is not built yet (see the CLI issue); the libraries are under crates/");
    std::process::exit(70);
}
