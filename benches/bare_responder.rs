//! The reference for dataport's speed: a bare may_minihttp server that reads
//! the request body and answers a fixed intake JSON — what the HTTP core
//! alone can do on this machine. `benches/compare.sh` runs it against
//! dataport with the same load generator and body.
//!
//! `cargo bench --bench bare_responder -- --serve 127.0.0.1:18100 [--workers N]`
//! (one worker and no core pinning unless told otherwise).
//! (plain `cargo bench` just prints this usage).

use std::io::Read;

use may_minihttp::{HttpServer, HttpService, Request, Response};

#[derive(Clone)]
struct Bare;

impl HttpService for Bare {
    fn call(&mut self, req: Request, rsp: &mut Response) -> std::io::Result<()> {
        let mut body = req.body();
        let mut sink = [0u8; 2048];
        while body.read(&mut sink)? > 0 {}
        rsp.header("Content-Type: application/json");
        rsp.body(r#"{"ResponseCode":"000","ResponseMsgEng":"OK"}"#);
        Ok(())
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let Some(addr) = arg("--serve") else {
        println!(
            "bare_responder: run with `-- --serve ADDR [--workers N]` (benches/compare.sh does)"
        );
        return;
    };
    let workers = arg("--workers")
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        });
    may::config().set_workers(workers);
    let server = HttpServer(Bare).start(&addr).expect("bind");
    println!("listening on {addr}");
    let _ = server.join();
}
