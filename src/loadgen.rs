//! The bundled load tester.

#[derive(Debug, Clone, clap::Args)]
pub struct Args {}

pub fn run(_args: &Args) -> anyhow::Result<bool> {
    Ok(true)
}
