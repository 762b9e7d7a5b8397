//! `campaign-api`: reads settings, sets up logging, serves until stopped.

use anyhow::Context;
use campaign_api::config::{Cli, Settings};
use campaign_api::Application;
use clap::Parser;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.print_openapi {
        let doc = campaign_api::openapi::document_json().context("failed to render OpenAPI")?;
        std::io::Write::write_all(&mut std::io::stdout(), doc.as_bytes())?;
        return Ok(());
    }
    let env: std::collections::HashMap<String, String> = std::env::vars().collect();
    let settings =
        endcap_web::config::load(&cli.common, |file| Settings::resolve(&cli, &env, file))
            .map_err(anyhow::Error::msg)?;
    endcap_web::config::init_logging(&settings.common).map_err(anyhow::Error::msg)?;
    let app = Application::build(&settings).await?;
    app.run_until_stopped().await.context("server failed")
}
