//! The appliance's one tokio thread: a current-thread runtime on its own OS
//! thread (`dataport-async`), where the async work lives — the e-mail
//! domain resolver (`dns`) and, in cluster mode, the NATS client
//! (`cluster`). Coroutines never run tokio code; they hand requests to
//! tasks here and park on `may` channels for the answer. Started only when
//! something needs it.
//!
//! Floor: the bottom; imports nothing of the crate.

/// Starts the thread and returns the handle tasks are spawned through.
/// The runtime lives as long as the process.
pub fn start() -> std::io::Result<tokio::runtime::Handle> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("dataport-async".into())
        .spawn(move || {
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => {
                    let _ = tx.send(Ok(rt.handle().clone()));
                    // Runs the spawned tasks, for good.
                    rt.block_on(std::future::pending::<()>());
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            }
        })?;
    rx.recv()
        .map_err(|_| std::io::Error::other("the async thread died starting"))?
}

#[cfg(test)]
mod tests {
    #[test]
    fn spawned_tasks_run_on_the_thread() {
        let handle = super::start().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        handle.spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            let _ = tx.send(std::thread::current().name().map(str::to_string));
        });
        let name = rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
        assert_eq!(name.as_deref(), Some("dataport-async"));
    }
}
