#![forbid(unsafe_code)]

fn main() -> anyhow::Result<()> {
    anyhow::bail!("mediator: not built yet")
}
