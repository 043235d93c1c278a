//! A custom traffic-router adapter (see `rollout_examples::custom_router`).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    for config in rollout_examples::custom_router::run().await? {
        println!("{config}");
    }
    Ok(())
}
