//! `sdk_open_url OUT URL...`: inside a supervised child, ask the supervisor to open each URL
//! (`Client::open_url`) and write one line per URL to OUT: `opened`, or `refused: <reason>`.
//! Exits 4 on any other error.

use std::io::Write;

use nono_client::{Client, ClientError};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((out, urls)) = args.split_first() else {
        eprintln!("usage: sdk_open_url OUT URL...");
        std::process::exit(2);
    };
    let mut client = Client::from_env().unwrap_or_else(|e| {
        eprintln!("sdk_open_url: {e}");
        std::process::exit(4);
    });
    let mut lines = String::new();
    for url in urls {
        match client.open_url(url) {
            Ok(()) => lines.push_str("opened\n"),
            Err(ClientError::UrlNotOpened { error }) => {
                lines.push_str(&format!("refused: {error}\n"));
            }
            Err(e) => {
                eprintln!("sdk_open_url: {e}");
                std::process::exit(4);
            }
        }
    }
    std::fs::File::create(out)
        .and_then(|mut f| f.write_all(lines.as_bytes()))
        .expect("write OUT");
}
