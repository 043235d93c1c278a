//! Another operator's reconcile loop with rollout inside it (see `rollout_examples::reconcile_loop`).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (progress, stable) = rollout_examples::reconcile_loop::run().await?;
    for p in &progress {
        println!(
            "t={:>4}s phase={:<12} step={:?} weight={}%",
            p.t, p.phase, p.step, p.weight
        );
    }
    println!("promoted: stable pod-template hash is now {stable}");
    Ok(())
}
