//! The baseline: an actix-web hello world on one worker, measured in the same run as the
//! ad server. Usage: `hello 127.0.0.1:8090`.

use actix_web::{web, App, HttpServer};

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8090".into());
    HttpServer::new(|| App::new().route("/", web::get().to(|| async { "hello" })))
        .workers(1)
        .bind(addr)?
        .run()
        .await
}
