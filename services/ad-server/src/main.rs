//! `ad-server`: reads settings, sets up logging, serves until stopped.

use ad_server::config::{Cli, Settings};
use ad_server::Application;
use anyhow::Context;
use clap::Parser;
use endcap_web::config::LogFormat;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let file_text = match &cli.common.config {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .with_context(|| format!("failed to read config file {}", p.display()))?,
        ),
        None => None,
    };
    let env: std::collections::HashMap<String, String> = std::env::vars().collect();
    let settings = Settings::resolve(&cli, &env, file_text.as_deref())
        .map_err(|errs| anyhow::anyhow!("invalid configuration:\n  {}", errs.join("\n  ")))?;
    endcap_web::init_tracing(
        &settings.common.log_filter,
        settings.common.log_format == LogFormat::Json,
    )
    .map_err(|e| anyhow::anyhow!("failed to set up logging: {e}"))?;
    let app = Application::build(&settings).await?;
    app.run_until_stopped().await.context("server failed")
}
