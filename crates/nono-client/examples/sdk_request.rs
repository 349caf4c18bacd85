//! `sdk_request PATH OUT`: inside a supervised child, ask the supervisor for read access to
//! PATH over the SDK socket (`Client::from_env`), and copy what the granted fd reads to OUT.
//! Exits 3 if the request is denied (printing the reason), 4 on any other error.

use std::io::{Read, Write};

use nono_client::{AccessMode, Client, ClientError};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(path), Some(out)) = (args.first(), args.get(1)) else {
        eprintln!("usage: sdk_request PATH OUT");
        std::process::exit(2);
    };
    let result =
        Client::from_env().and_then(|mut c| c.request(path, AccessMode::Read, Some("example")));
    match result {
        Ok(fd) => {
            let mut content = String::new();
            std::fs::File::from(fd)
                .read_to_string(&mut content)
                .expect("read the granted fd");
            std::fs::File::create(out)
                .and_then(|mut f| f.write_all(content.as_bytes()))
                .expect("write OUT");
        }
        Err(ClientError::Denied { reason }) => {
            eprintln!("denied: {reason}");
            std::process::exit(3);
        }
        Err(e) => {
            eprintln!("sdk_request: {e}");
            std::process::exit(4);
        }
    }
}
